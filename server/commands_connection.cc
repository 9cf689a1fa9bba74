// Connection commands: PING ECHO HELLO AUTH CLIENT SELECT QUIT RESET.
#include <algorithm>

#include "server/arguments.h"
#include "server/client.h"
#include "server/handlers.h"
#include "server/server.h"

namespace ringkv::server {
namespace {

// The Redis version whose protocol and command behaviour we follow; client
// libraries read it to decide which features to use.
constexpr const char* kRedisCompatibleVersion = "7.0.15";

// Checks a password the way Redis's default user does. Writes the error
// reply and returns false when it is wrong.
bool CheckPassword(CommandContext& ctx, std::string_view username, std::string_view password) {
  const std::string& required = ctx.server.config().requirepass;
  if (username != "default" || required.empty() || password != required) {
    ctx.reply.Error("WRONGPASS invalid username-password pair or user is disabled.");
    return false;
  }
  return true;
}

// Redis refuses names with spaces, newlines and other special characters.
bool ValidClientName(std::string_view name) {
  return std::all_of(name.begin(), name.end(), [](char c) { return c >= '!' && c <= '~'; });
}

}  // namespace

void PingCommand(CommandContext& ctx) {
  if (ctx.args.size() > 2) {
    ReplyWrongArity(ctx.reply, "ping");
  } else if (ctx.args.size() == 2) {
    ctx.reply.Bulk(ctx.args[1]);
  } else {
    ctx.reply.SimpleString("PONG");
  }
}

void EchoCommand(CommandContext& ctx) { ctx.reply.Bulk(ctx.args[1]); }

void HelloCommand(CommandContext& ctx) {
  int protocol = ctx.client.protocol();
  size_t next = 1;
  if (ctx.args.size() >= 2) {
    int64_t version = 0;
    if (!ParseInt64(ctx.args[1], &version)) {
      ctx.reply.Error("ERR Protocol version is not an integer or out of range");
      return;
    }
    if (version < 2 || version > 3) {
      ctx.reply.Error("NOPROTO unsupported protocol version");
      return;
    }
    protocol = static_cast<int>(version);
    next = 2;
  }
  std::string_view new_name;
  bool set_name = false;
  for (size_t i = next; i < ctx.args.size(); ++i) {
    size_t more = ctx.args.size() - i - 1;
    if (EqualsIgnoreCase(ctx.args[i], "auth") && more >= 2) {
      if (!CheckPassword(ctx, ctx.args[i + 1], ctx.args[i + 2])) return;
      ctx.client.set_authenticated(true);
      i += 2;
    } else if (EqualsIgnoreCase(ctx.args[i], "setname") && more >= 1) {
      new_name = ctx.args[i + 1];
      if (!ValidClientName(new_name)) {
        ctx.reply.Error(
            "ERR Client names cannot contain spaces, newlines or special characters.");
        return;
      }
      set_name = true;
      i += 1;
    } else {
      ctx.reply.Error("ERR Syntax error in HELLO option '" + ctx.args[i] + "'");
      return;
    }
  }
  if (!ctx.client.authenticated()) {
    ctx.reply.Error(
        "NOAUTH HELLO must be called with the client already authenticated, otherwise the "
        "HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and "
        "select the RESP protocol version at the same time");
    return;
  }
  if (set_name) ctx.client.set_name(std::string(new_name));
  ctx.client.set_protocol(protocol);
  resp::ReplyWriter& reply = ctx.reply;
  reply.set_protocol(protocol);
  reply.MapHeader(7);
  reply.Bulk("server");
  reply.Bulk("redis");
  reply.Bulk("version");
  reply.Bulk(kRedisCompatibleVersion);
  reply.Bulk("proto");
  reply.Integer(protocol);
  reply.Bulk("id");
  reply.Integer(static_cast<int64_t>(ctx.client.id()));
  reply.Bulk("mode");
  reply.Bulk("standalone");
  reply.Bulk("role");
  reply.Bulk("master");
  reply.Bulk("modules");
  reply.ArrayHeader(0);
}

void AuthCommand(CommandContext& ctx) {
  if (ctx.args.size() > 3) {
    ctx.reply.Error("ERR syntax error");
    return;
  }
  if (ctx.args.size() == 2 && ctx.server.config().requirepass.empty()) {
    ctx.reply.Error(
        "ERR AUTH <password> called without any password configured for the default user. Are "
        "you sure your configuration is correct?");
    return;
  }
  std::string_view username = ctx.args.size() == 3 ? std::string_view(ctx.args[1]) : "default";
  std::string_view password = ctx.args.back();
  if (!CheckPassword(ctx, username, password)) return;
  ctx.client.set_authenticated(true);
  ctx.reply.SimpleString("OK");
}

void ClientCommand(CommandContext& ctx) {
  const std::string& sub = ctx.args[1];
  size_t argc = ctx.args.size();
  if (EqualsIgnoreCase(sub, "id")) {
    if (argc != 2) return ReplyWrongArity(ctx.reply, "client|id");
    ctx.reply.Integer(static_cast<int64_t>(ctx.client.id()));
  } else if (EqualsIgnoreCase(sub, "setname")) {
    if (argc != 3) return ReplyWrongArity(ctx.reply, "client|setname");
    if (!ValidClientName(ctx.args[2])) {
      ctx.reply.Error("ERR Client names cannot contain spaces, newlines or special characters.");
      return;
    }
    ctx.client.set_name(ctx.args[2]);
    ctx.reply.SimpleString("OK");
  } else if (EqualsIgnoreCase(sub, "getname")) {
    if (argc != 2) return ReplyWrongArity(ctx.reply, "client|getname");
    if (ctx.client.name().empty()) {
      ctx.reply.Null();
    } else {
      ctx.reply.Bulk(ctx.client.name());
    }
  } else if (EqualsIgnoreCase(sub, "setinfo")) {
    if (argc != 4) return ReplyWrongArity(ctx.reply, "client|setinfo");
    const std::string& attribute = ctx.args[2];
    const std::string& value = ctx.args[3];
    bool is_name = EqualsIgnoreCase(attribute, "lib-name");
    if (!is_name && !EqualsIgnoreCase(attribute, "lib-ver")) {
      ctx.reply.Error("ERR Unrecognized option '" + attribute + "'");
      return;
    }
    if (!ValidClientName(value)) {
      ctx.reply.Error("ERR " + std::string(is_name ? "lib-name" : "lib-ver") +
                      " cannot contain spaces, newlines or special characters.");
      return;
    }
    (is_name ? ctx.client.lib_name : ctx.client.lib_version) = value;
    ctx.reply.SimpleString("OK");
  } else if (EqualsIgnoreCase(sub, "list")) {
    if (argc != 2 && !(argc >= 4 && EqualsIgnoreCase(ctx.args[2], "id"))) {
      ctx.reply.Error("ERR syntax error");
      return;
    }
    std::vector<uint64_t> ids;
    for (size_t i = 3; i < argc; ++i) {
      int64_t id = 0;
      if (!ParseInt64(ctx.args[i], &id) || id <= 0) {
        ctx.reply.Error("ERR Invalid client ID");
        return;
      }
      ids.push_back(static_cast<uint64_t>(id));
    }
    std::vector<uint64_t> order;
    for (const auto& [id, client] : ctx.server.clients()) {
      if (!client->closing()) order.push_back(id);
    }
    std::sort(order.begin(), order.end());
    std::string text;
    int64_t now = ctx.server.now_ms();
    for (uint64_t id : order) {
      if (!ids.empty() && std::find(ids.begin(), ids.end(), id) == ids.end()) continue;
      text += ctx.server.clients().at(id)->Describe(now);
      text += "\n";
    }
    ctx.reply.Verbatim("txt", text);
  } else if (EqualsIgnoreCase(sub, "info")) {
    if (argc != 2) return ReplyWrongArity(ctx.reply, "client|info");
    ctx.reply.Verbatim("txt", ctx.client.Describe(ctx.server.now_ms()) + "\n");
  } else if (EqualsIgnoreCase(sub, "help")) {
    static const char* kHelp[] = {
        "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "ID", "    Return the ID of the current connection.",
        "GETNAME", "    Return the name of the current connection.",
        "SETNAME <name>", "    Assign the name <name> to the current connection.",
        "SETINFO <LIB-NAME|LIB-VER> <value>", "    Set client library name or version.",
        "LIST [ID <id> [<id> ...]]", "    Return information about client connections.",
        "INFO", "    Return information about the current client connection.",
        "HELP", "    Print this help."};
    ctx.reply.ArrayHeader(std::size(kHelp));
    for (const char* line : kHelp) ctx.reply.SimpleString(line);
  } else {
    ReplyUnknownSubcommand(ctx.reply, "client", sub);
  }
}

void SelectCommand(CommandContext& ctx) {
  int64_t index = 0;
  if (!ParseInt64(ctx.args[1], &index)) {
    ctx.reply.Error("ERR value is not an integer or out of range");
  } else if (index != 0) {
    ctx.reply.Error("ERR DB index is out of range");
  } else {
    ctx.reply.SimpleString("OK");
  }
}

void QuitCommand(CommandContext& ctx) {
  ctx.reply.SimpleString("OK");
  ctx.client.CloseAfterReply();
}

void ResetCommand(CommandContext& ctx) {
  ctx.client.set_protocol(2);
  ctx.client.set_name("");
  ctx.client.set_authenticated(ctx.server.config().requirepass.empty());
  ctx.reply.set_protocol(2);
  ctx.reply.SimpleString("RESET");
}

}  // namespace ringkv::server
