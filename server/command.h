// server/command.h: the command table's row type and the handler contract.
//
// One declarative table (command_table.cc) lists every client command:
// name, arity, flags, handler, key positions and documentation (served by
// COMMAND INFO and COMMAND DOCS, which redis-cli uses for its hints).
//
// A handler parses its arguments, calls a data operation, and writes exactly
// one reply through ctx.reply. Arity and authentication are checked before
// the handler runs.
#ifndef RINGKV_SERVER_COMMAND_H_
#define RINGKV_SERVER_COMMAND_H_

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "resp/reply_writer.h"

namespace ringkv::server {

class Server;
class Client;

enum CommandFlag : uint32_t {
  kCommandWrite = 1 << 0,
  kCommandReadOnly = 1 << 1,
  kCommandFast = 1 << 2,
  kCommandAdmin = 1 << 3,
  kCommandNoAuth = 1 << 4,     // Allowed before AUTH.
  kCommandLoading = 1 << 5,
  kCommandStale = 1 << 6,
  kCommandNoScript = 1 << 7,
  // Served from this node's own storage, never through a quorum (LOCALGET):
  // allowed while the node cannot coordinate yet.
  kCommandLocal = 1 << 8,
};

// Keys of a command, from the table's key positions (first, last, step);
// last_key -1 means "to the end".
std::vector<std::string_view> CommandKeys(const struct CommandSpec& spec,
                                          std::span<const std::string> args);
// Calls fn(key) for each key of the command, in order, without building a
// vector (the per-command path of a pipelined connection).
template <typename Fn>
void ForEachCommandKey(const struct CommandSpec& spec, std::span<const std::string> args, Fn fn);

// Names a reply that a handler will give later (after a quorum answered).
// Carries the client id, not a pointer: the client may be gone by then, and
// Server::CompleteReply drops the reply in that case.
struct ReplyToken {
  uint64_t client_id = 0;
  uint64_t slot = 0;
  int protocol = 2;  // The protocol to encode the reply in.
};

struct CommandContext {
  Server& server;
  Client& client;
  std::span<std::string> args;  // args[0] is the command name as sent.
  resp::ReplyWriter& reply;
  const struct CommandSpec* spec = nullptr;

  // Declares that the reply comes later, through Server::CompleteReply. The
  // handler must not have written to `reply`. The client keeps the order of
  // replies, and runs no later command that touches the same keys until
  // this one is complete.
  ReplyToken Defer();
};

using CommandHandler = void (*)(CommandContext& ctx);

// An argument as COMMAND DOCS describes it (Redis 7's argument model).
struct ArgumentDoc {
  std::string name;
  std::string type;   // key, string, integer, double, pure-token, oneof, block
  std::string token;  // Literal token that introduces it, or "".
  bool optional = false;
  bool multiple = false;
  std::vector<ArgumentDoc> arguments;  // For oneof and block.
};

struct CommandSpec {
  const char* name;  // Lowercase.
  int arity;         // > 0: exactly; < 0: at least -arity (name included).
  uint32_t flags;
  CommandHandler handler;
  int first_key;  // Key positions for COMMAND INFO (0 if none).
  int last_key;
  int key_step;
  const char* group;
  const char* since;
  const char* summary;
  const char* complexity;
  std::vector<ArgumentDoc> arguments;
};

// The table, and a case-insensitive lookup (nullptr if unknown).
const std::vector<CommandSpec>& CommandTable();
const CommandSpec* LookupCommand(std::string_view name);

// Flag names as COMMAND INFO shows them ("write", "readonly", ...).
std::vector<const char*> CommandFlagNames(uint32_t flags);

// Redis's error for a wrong argument count, e.g. for "client|setname".
void ReplyWrongArity(resp::ReplyWriter& reply, std::string_view full_name);
// "ERR unknown subcommand 'x'. Try CLIENT HELP."
void ReplyUnknownSubcommand(resp::ReplyWriter& reply, std::string_view command,
                            std::string_view subcommand);

template <typename Fn>
void ForEachCommandKey(const CommandSpec& spec, std::span<const std::string> args, Fn fn) {
  if (spec.first_key <= 0) return;
  const int argc = static_cast<int>(args.size());
  const int last = spec.last_key < 0 ? argc + spec.last_key : spec.last_key;
  const int step = spec.key_step > 0 ? spec.key_step : 1;
  for (int i = spec.first_key; i <= last && i < argc; i += step) fn(std::string_view(args[i]));
}

}  // namespace ringkv::server

#endif  // RINGKV_SERVER_COMMAND_H_
