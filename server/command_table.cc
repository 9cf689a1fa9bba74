// The command table: one row per client command. See command.h.
#include <unordered_map>

#include "server/command.h"
#include "server/handlers.h"

namespace ringkv::server {
namespace {

ArgumentDoc Key(const char* name = "key") { return {name, "key", "", false, false, {}}; }
ArgumentDoc Str(const char* name) { return {name, "string", "", false, false, {}}; }
ArgumentDoc Int(const char* name) { return {name, "integer", "", false, false, {}}; }
ArgumentDoc Token(const char* name, const char* token) {
  return {name, "pure-token", token, false, false, {}};
}
ArgumentDoc Optional(ArgumentDoc argument) {
  argument.optional = true;
  return argument;
}
ArgumentDoc Multiple(ArgumentDoc argument) {
  argument.multiple = true;
  return argument;
}
ArgumentDoc OneOf(const char* name, std::vector<ArgumentDoc> choices) {
  return {name, "oneof", "", false, false, std::move(choices)};
}
ArgumentDoc Block(const char* name, std::vector<ArgumentDoc> parts) {
  return {name, "block", "", false, false, std::move(parts)};
}
ArgumentDoc WithToken(ArgumentDoc argument, const char* token) {
  argument.token = token;
  return argument;
}

constexpr uint32_t kWrite = kCommandWrite;
constexpr uint32_t kRead = kCommandReadOnly;
constexpr uint32_t kFast = kCommandFast;

std::vector<CommandSpec> BuildTable() {
  return {
      // Connection.
      {"ping", -1, kFast | kCommandStale, PingCommand, 0, 0, 0, "connection", "1.0.0",
       "Returns the server's liveliness response.", "O(1)", {Optional(Str("message"))}},
      {"echo", 2, kFast, EchoCommand, 0, 0, 0, "connection", "1.0.0",
       "Returns the given string.", "O(1)", {Str("message")}},
      {"hello", -1, kFast | kCommandNoAuth | kCommandStale | kCommandLoading, HelloCommand, 0, 0,
       0, "connection", "6.0.0", "Handshakes with the server.", "O(1)",
       {Optional(Block("arguments",
                       {Int("protover"),
                        Optional(WithToken(Block("auth", {Str("username"), Str("password")}),
                                           "AUTH")),
                        Optional(WithToken(Str("clientname"), "SETNAME"))}))}},
      {"auth", -2, kFast | kCommandNoAuth | kCommandStale | kCommandLoading, AuthCommand, 0, 0, 0,
       "connection", "1.0.0", "Authenticates the connection.", "O(N)",
       {Optional(Str("username")), Str("password")}},
      {"client", -2, kCommandStale | kCommandLoading, ClientCommand, 0, 0, 0, "connection",
       "2.4.0", "A container for client connection commands (ID, SETNAME, GETNAME, SETINFO, "
       "LIST, INFO).", "Depends on subcommand.", {Str("subcommand"), Optional(Multiple(Str("arg")))}},
      {"select", 2, kFast | kCommandLoading | kCommandStale, SelectCommand, 0, 0, 0, "connection",
       "1.0.0", "Changes the selected database (only database 0 exists).", "O(1)",
       {Int("index")}},
      {"quit", -1, kFast | kCommandNoAuth | kCommandStale | kCommandLoading, QuitCommand, 0, 0, 0,
       "connection", "1.0.0", "Closes the connection.", "O(1)", {}},
      {"reset", 1, kFast | kCommandNoAuth | kCommandStale | kCommandLoading, ResetCommand, 0, 0, 0,
       "connection", "6.2.0", "Resets the connection.", "O(1)", {}},
      // Server.
      {"command", -1, kCommandLoading | kCommandStale, CommandCommand, 0, 0, 0, "server",
       "2.8.13", "Returns detailed information about all commands (COUNT, INFO, DOCS).",
       "O(N) where N is the total number of commands", {Optional(Str("subcommand")),
                                                         Optional(Multiple(Str("command-name")))}},
      {"info", -1, kCommandLoading | kCommandStale, InfoCommand, 0, 0, 0, "server", "1.0.0",
       "Returns information and statistics about the server.", "O(1)",
       {Optional(Multiple(Str("section")))}},
      {"config", -2, kCommandAdmin | kCommandLoading | kCommandStale, ConfigCommand, 0, 0, 0,
       "server", "2.0.0", "A container for server configuration commands (GET).",
       "Depends on subcommand.", {Str("subcommand"), Optional(Multiple(Str("parameter")))}},
      {"dbsize", 1, kRead | kFast, DbsizeCommand, 0, 0, 0, "server", "1.0.0",
       "Returns the number of keys in this node's storage.", "O(1)", {}},
      // Strings.
      {"get", 2, kRead | kFast, GetCommand, 1, 1, 1, "string", "1.0.0",
       "Returns the string value of a key.", "O(1)", {Key()}},
      {"set", -3, kWrite, SetCommand, 1, 1, 1, "string", "1.0.0",
       "Sets the string value of a key, ignoring its type.", "O(1)",
       {Key(), Str("value"),
        Optional(OneOf("condition", {Token("nx", "NX"), Token("xx", "XX")})),
        Optional(Token("get", "GET")),
        Optional(OneOf("expiration", {WithToken(Int("seconds"), "EX"),
                                      WithToken(Int("milliseconds"), "PX"),
                                      WithToken(Int("unix-time-seconds"), "EXAT"),
                                      WithToken(Int("unix-time-milliseconds"), "PXAT"),
                                      Token("keepttl", "KEEPTTL")}))}},
      {"setnx", 3, kWrite | kFast, SetnxCommand, 1, 1, 1, "string", "1.0.0",
       "Set the string value of a key only when the key doesn't exist.", "O(1)",
       {Key(), Str("value")}},
      {"getdel", 2, kWrite | kFast, GetdelCommand, 1, 1, 1, "string", "6.2.0",
       "Returns the string value of a key after deleting the key.", "O(1)", {Key()}},
      {"del", -2, kWrite, DelCommand, 1, -1, 1, "keyspace", "1.0.0", "Deletes one or more keys.",
       "O(N) where N is the number of keys that will be removed.", {Multiple(Key())}},
      {"exists", -2, kRead | kFast, ExistsCommand, 1, -1, 1, "keyspace", "1.0.0",
       "Determines whether one or more keys exist.", "O(N) where N is the number of keys to check.",
       {Multiple(Key())}},
      {"mget", -2, kRead | kFast, MgetCommand, 1, -1, 1, "string", "1.0.0",
       "Atomically returns the string values of one or more keys.",
       "O(N) where N is the number of keys to retrieve.", {Multiple(Key())}},
      {"mset", -3, kWrite, MsetCommand, 1, -1, 2, "string", "1.0.1",
       "Sets the string values of one or more keys (not atomic across keys in a cluster).",
       "O(N) where N is the number of keys to set.",
       {Multiple(Block("data", {Key(), Str("value")}))}},
      {"msetnx", -3, kWrite, MsetnxCommand, 1, -1, 2, "string", "1.0.1",
       "Sets the string values of one or more keys only when all keys don't exist.",
       "O(N) where N is the number of keys to set.",
       {Multiple(Block("data", {Key(), Str("value")}))}},
      {"strlen", 2, kRead | kFast, StrlenCommand, 1, 1, 1, "string", "2.2.0",
       "Returns the length of a string value.", "O(1)", {Key()}},
      {"append", 3, kWrite, AppendCommand, 1, 1, 1, "string", "2.0.0",
       "Appends a string to the value of a key. Creates the key if it doesn't exist.", "O(1)",
       {Key(), Str("value")}},
      // ringkv's own.
      {"vclock", 2, kRead | kFast, VclockCommand, 1, 1, 1, "ringkv", "0.1.0",
       "Returns a key's version vector and the dots of its siblings (merged over R replicas "
       "in a cluster).", "O(S) siblings", {Key()}},
      {"vget", 2, kRead | kFast, VgetCommand, 1, 1, 1, "ringkv", "0.1.0",
       "Returns every sibling of a key (value, timestamp, dot) and an opaque context.",
       "O(S) siblings", {Key()}},
      {"vset", 4, kWrite, VsetCommand, 1, 1, 1, "ringkv", "0.1.0",
       "Writes a value with the context VGET returned, resolving the siblings it saw.", "O(1)",
       {Key(), Str("context"), Str("value")}},
      {"vdel", 3, kWrite, VdelCommand, 1, 1, 1, "ringkv", "0.1.0",
       "Deletes a key with the context VGET returned.", "O(1)", {Key(), Str("context")}},
      {"localget", 2, kRead | kFast | kCommandLocal, LocalgetCommand, 1, 1, 1, "ringkv", "0.1.0",
       "Returns this node's own copy of a key, without coordination (for operators and "
       "tests).", "O(S) siblings", {Key()}},
      {"ring", -1, kRead | kCommandStale, RingCommand, 0, 0, 0, "ringkv", "0.1.0",
       "Shows the partitions and their owners, or a key's partition and preference list.",
       "O(Q)", {Optional(Block("key", {Token("key", "KEY"), Key()}))}},
      {"members", 1, kCommandLoading | kCommandStale, MembersCommand, 0, 0, 0, "ringkv", "0.1.0",
       "Shows the cluster's members as gossip knows them: address, state (alive or suspect), "
       "heartbeat, incarnation, weight and partitions owned.", "O(M) members", {}},
      {"hints", 1, kCommandLoading | kCommandStale, HintsCommand, 0, 0, 0, "ringkv", "0.1.0",
       "Shows the hints this node holds for other members (sloppy quorum) and their "
       "delivery: per target, hints held, bytes, delivered, dropped, delivery in progress.",
       "O(T) targets", {}},
      {"consistency", -1, kFast, ConsistencyCommand, 0, 0, 0, "ringkv", "0.1.0",
       "Shows or sets this connection's read and write quorums (ONE, QUORUM, ALL or a "
       "number).", "O(1)",
       {Optional(Str("level")), Optional(WithToken(Str("r-level"), "R")),
        Optional(WithToken(Str("w-level"), "W"))}},
      {"wait", 3, 0, WaitCommand, 0, 0, 0, "generic", "3.0.0",
       "Waits until this connection's last write is acknowledged by the given number of "
       "replicas; returns how many acknowledged.", "O(1)",
       {Int("numreplicas"), Int("timeout")}},
  };
}

}  // namespace

const std::vector<CommandSpec>& CommandTable() {
  static const std::vector<CommandSpec> table = BuildTable();
  return table;
}

const CommandSpec* LookupCommand(std::string_view name) {
  static const std::unordered_map<std::string_view, const CommandSpec*> index = [] {
    std::unordered_map<std::string_view, const CommandSpec*> map;
    for (const CommandSpec& spec : CommandTable()) map.emplace(spec.name, &spec);
    return map;
  }();
  char lower[32];
  if (name.size() >= sizeof(lower)) return nullptr;
  // ASCII only, as Redis: no locale lookup per character.
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    lower[i] = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  }
  auto it = index.find(std::string_view(lower, name.size()));
  return it == index.end() ? nullptr : it->second;
}

std::vector<std::string_view> CommandKeys(const CommandSpec& spec,
                                          std::span<const std::string> args) {
  std::vector<std::string_view> keys;
  ForEachCommandKey(spec, args, [&keys](std::string_view key) { keys.push_back(key); });
  return keys;
}

std::vector<const char*> CommandFlagNames(uint32_t flags) {
  std::vector<const char*> names;
  if (flags & kCommandWrite) names.push_back("write");
  if (flags & kCommandReadOnly) names.push_back("readonly");
  if (flags & kCommandAdmin) names.push_back("admin");
  if (flags & kCommandNoAuth) names.push_back("no_auth");
  if (flags & kCommandLoading) names.push_back("loading");
  if (flags & kCommandStale) names.push_back("stale");
  if (flags & kCommandFast) names.push_back("fast");
  return names;
}

void ReplyWrongArity(resp::ReplyWriter& reply, std::string_view full_name) {
  reply.Error("ERR wrong number of arguments for '" + std::string(full_name) + "' command");
}

void ReplyUnknownSubcommand(resp::ReplyWriter& reply, std::string_view command,
                            std::string_view subcommand) {
  std::string upper(command);
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  reply.Error("ERR unknown subcommand '" + std::string(subcommand.substr(0, 128)) + "'. Try " +
              upper + " HELP.");
}

}  // namespace ringkv::server
