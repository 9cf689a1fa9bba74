// Admin commands: COMMAND, INFO, CONFIG, DBSIZE.

#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include "server/arguments.h"
#include "server/client.h"
#include "server/handlers.h"
#include "server/info.h"
#include "server/server.h"

namespace ringkv::server {
namespace {

void ReplyCommandInfo(resp::ReplyWriter& reply, const CommandSpec& spec) {
  reply.ArrayHeader(10);
  reply.Bulk(spec.name);
  reply.Integer(spec.arity);
  std::vector<const char*> flags = CommandFlagNames(spec.flags);
  reply.SetHeader(flags.size());
  for (const char* flag : flags) reply.SimpleString(flag);
  reply.Integer(spec.first_key);
  reply.Integer(spec.last_key);
  reply.Integer(spec.key_step);
  reply.SetHeader(1);
  reply.SimpleString(std::string("@") + spec.group);
  reply.ArrayHeader(0);  // Tips.
  reply.ArrayHeader(0);  // Key specs.
  reply.ArrayHeader(0);  // Subcommands.
}

void ReplyArgumentDoc(resp::ReplyWriter& reply, const ArgumentDoc& argument) {
  std::vector<std::string> flags;
  if (argument.optional) flags.push_back("optional");
  if (argument.multiple) flags.push_back("multiple");
  size_t pairs = 2 + (!argument.token.empty()) + (!flags.empty()) + (!argument.arguments.empty());
  reply.MapHeader(pairs);
  reply.Bulk("name");
  reply.Bulk(argument.name);
  reply.Bulk("type");
  reply.Bulk(argument.type);
  if (!argument.token.empty()) {
    reply.Bulk("token");
    reply.Bulk(argument.token);
  }
  if (!flags.empty()) {
    reply.Bulk("flags");
    reply.ArrayHeader(flags.size());
    for (const std::string& flag : flags) reply.SimpleString(flag);
  }
  if (!argument.arguments.empty()) {
    reply.Bulk("arguments");
    reply.ArrayHeader(argument.arguments.size());
    for (const ArgumentDoc& child : argument.arguments) ReplyArgumentDoc(reply, child);
  }
}

void ReplyCommandDocs(resp::ReplyWriter& reply, const CommandSpec& spec) {
  reply.Bulk(spec.name);
  reply.MapHeader(spec.arguments.empty() ? 4 : 5);
  reply.Bulk("summary");
  reply.Bulk(spec.summary);
  reply.Bulk("since");
  reply.Bulk(spec.since);
  reply.Bulk("group");
  reply.Bulk(spec.group);
  reply.Bulk("complexity");
  reply.Bulk(spec.complexity);
  if (!spec.arguments.empty()) {
    reply.Bulk("arguments");
    reply.ArrayHeader(spec.arguments.size());
    for (const ArgumentDoc& argument : spec.arguments) ReplyArgumentDoc(reply, argument);
  }
}

// Glob match as Redis's stringmatchlen for CONFIG GET patterns: *, ?, and
// [...] classes, case-insensitive.
bool GlobMatch(std::string_view pattern, std::string_view text) {
  if (pattern.empty()) return text.empty();
  if (pattern[0] == '*') {
    for (size_t skip = 0; skip <= text.size(); ++skip) {
      if (GlobMatch(pattern.substr(1), text.substr(skip))) return true;
    }
    return false;
  }
  if (text.empty()) return false;
  auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; };
  if (pattern[0] == '[') {
    size_t close = pattern.find(']', 1);
    if (close == std::string_view::npos) return false;
    std::string_view set = pattern.substr(1, close - 1);
    bool negate = !set.empty() && set[0] == '^';
    if (negate) set.remove_prefix(1);
    bool hit = set.find(lower(text[0])) != std::string_view::npos;
    if (hit == negate) return false;
    return GlobMatch(pattern.substr(close + 1), text.substr(1));
  }
  if (pattern[0] != '?' && lower(pattern[0]) != lower(text[0])) return false;
  return GlobMatch(pattern.substr(1), text.substr(1));
}

}  // namespace

void CommandCommand(CommandContext& ctx) {
  const std::vector<CommandSpec>& table = CommandTable();
  if (ctx.args.size() == 1) {
    ctx.reply.ArrayHeader(table.size());
    for (const CommandSpec& spec : table) ReplyCommandInfo(ctx.reply, spec);
    return;
  }
  const std::string& sub = ctx.args[1];
  if (EqualsIgnoreCase(sub, "count")) {
    if (ctx.args.size() != 2) return ReplyWrongArity(ctx.reply, "command|count");
    ctx.reply.Integer(static_cast<int64_t>(table.size()));
  } else if (EqualsIgnoreCase(sub, "info")) {
    if (ctx.args.size() == 2) {
      ctx.reply.ArrayHeader(table.size());
      for (const CommandSpec& spec : table) ReplyCommandInfo(ctx.reply, spec);
      return;
    }
    ctx.reply.ArrayHeader(ctx.args.size() - 2);
    for (size_t i = 2; i < ctx.args.size(); ++i) {
      const CommandSpec* spec = LookupCommand(ctx.args[i]);
      if (spec) {
        ReplyCommandInfo(ctx.reply, *spec);
      } else {
        ctx.reply.NullArray();
      }
    }
  } else if (EqualsIgnoreCase(sub, "docs")) {
    std::vector<const CommandSpec*> wanted;
    if (ctx.args.size() == 2) {
      for (const CommandSpec& spec : table) wanted.push_back(&spec);
    } else {
      for (size_t i = 2; i < ctx.args.size(); ++i) {
        if (const CommandSpec* spec = LookupCommand(ctx.args[i])) wanted.push_back(spec);
      }
    }
    ctx.reply.MapHeader(wanted.size());
    for (const CommandSpec* spec : wanted) ReplyCommandDocs(ctx.reply, *spec);
  } else if (EqualsIgnoreCase(sub, "help")) {
    ctx.reply.ArrayHeader(5);
    ctx.reply.SimpleString("COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:");
    ctx.reply.SimpleString("(no subcommand), COUNT, INFO [<command-name> ...],");
    ctx.reply.SimpleString("DOCS [<command-name> ...]");
    ctx.reply.SimpleString("HELP");
    ctx.reply.SimpleString("    Print this help.");
  } else {
    ReplyUnknownSubcommand(ctx.reply, "command", sub);
  }
}

void InfoCommand(CommandContext& ctx) {
  std::vector<std::string> sections;
  for (size_t i = 1; i < ctx.args.size(); ++i) sections.push_back(ctx.args[i]);
  ctx.reply.Verbatim("txt", BuildInfo(ctx.server, sections));
}

void ConfigCommand(CommandContext& ctx) {
  const std::string& sub = ctx.args[1];
  if (EqualsIgnoreCase(sub, "get")) {
    if (ctx.args.size() < 3) return ReplyWrongArity(ctx.reply, "config|get");
    std::vector<std::pair<std::string, std::string>> matched;
    for (const auto& [name, value] : ConfigParameters(ctx.server.config())) {
      for (size_t i = 2; i < ctx.args.size(); ++i) {
        if (GlobMatch(ctx.args[i], name)) {
          matched.emplace_back(name, value);
          break;
        }
      }
    }
    ctx.reply.MapHeader(matched.size());
    for (const auto& [name, value] : matched) {
      ctx.reply.Bulk(name);
      ctx.reply.Bulk(value);
    }
  } else if (EqualsIgnoreCase(sub, "set") || EqualsIgnoreCase(sub, "resetstat") ||
             EqualsIgnoreCase(sub, "rewrite")) {
    ctx.reply.Error("ERR CONFIG " + sub +
                    " is not supported: ringkv is configured by its TOML file");
  } else if (EqualsIgnoreCase(sub, "help")) {
    ctx.reply.ArrayHeader(3);
    ctx.reply.SimpleString("CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:");
    ctx.reply.SimpleString("GET <pattern>");
    ctx.reply.SimpleString("    Return parameters matching the glob-like <pattern> and their values.");
  } else {
    ReplyUnknownSubcommand(ctx.reply, "config", sub);
  }
}

void DbsizeCommand(CommandContext& ctx) {
  ctx.reply.Integer(static_cast<int64_t>(ctx.server.engine().live_keys()));
}

}  // namespace ringkv::server
