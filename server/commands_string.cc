// String commands on this node's storage: GET SET SETNX GETDEL DEL EXISTS
// MGET MSET MSETNX STRLEN APPEND, and VCLOCK.
#include <string>

#include "server/arguments.h"
#include "server/client.h"
#include "server/cluster_commands.h"
#include "server/cluster_node.h"
#include "server/handlers.h"
#include "server/server.h"
#include "storage/sibling_set.h"

namespace ringkv::server {
namespace {

// One view reused by every handler: handlers run one at a time on the loop
// thread, and reusing it keeps GET free of allocations.
storage::SiblingSetView& ScratchView() {
  static storage::SiblingSetView view;
  return view;
}

void ReplyStorageError(CommandContext& ctx, const storage::Status& status) {
  if (status.IsMapFull()) {
    ctx.reply.Error("OOM command not allowed: the storage map is full (storage.map_size_bytes = " +
                    std::to_string(ctx.server.config().map_size_bytes) + ")");
  } else if (status.IsCorruption()) {
    ctx.reply.Error("ERR corrupt record: " + status.message());
  } else {
    ctx.reply.Error("ERR storage error: " + status.ToString());
  }
}

// Reads `key` into ScratchView(). Returns false after replying with an
// error; otherwise *live tells whether GET would return a value. kUpdate
// for a command that goes on to write the key.
bool ReadKey(CommandContext& ctx, std::string_view key, bool* found, bool* live,
             storage::Engine::ReadFor purpose = storage::Engine::ReadFor::kRead) {
  storage::SiblingSetView& view = ScratchView();
  storage::Status status = ctx.server.keyspace().Read(key, &view, found, purpose);
  if (!status.ok()) {
    ReplyStorageError(ctx, status);
    return false;
  }
  *live = *found && view.live();
  return true;
}

// Writes a value (or tombstone) superseding what this node holds. The
// current record must have just been read into ScratchView() (`found`).
bool WriteKey(CommandContext& ctx, std::string_view key, bool found, std::string_view value,
              bool tombstone) {
  storage::Status status = ctx.server.keyspace().WriteLocal(
      key, found ? &ScratchView() : nullptr, value, tombstone, ctx.server.now_ms());
  if (!status.ok()) {
    ReplyStorageError(ctx, status);
    return false;
  }
  return true;
}

void CountLookup(CommandContext& ctx, bool hit) {
  if (hit) {
    ++ctx.server.stats().keyspace_hits;
  } else {
    ++ctx.server.stats().keyspace_misses;
  }
}

}  // namespace

void GetCommand(CommandContext& ctx) {
  if (ctx.server.cluster().clustered()) return ClusterGet(ctx);
  bool found = false, live = false;
  if (!ReadKey(ctx, ctx.args[1], &found, &live)) return;
  CountLookup(ctx, live);
  if (live) {
    ctx.reply.Bulk(ScratchView().winner().value);
  } else {
    ctx.reply.Null();
  }
}

void SetCommand(CommandContext& ctx) {
  bool nx = false, xx = false, get = false;
  const char* expiry = nullptr;
  for (size_t i = 3; i < ctx.args.size(); ++i) {
    const std::string& option = ctx.args[i];
    bool has_next = i + 1 < ctx.args.size();
    if (EqualsIgnoreCase(option, "nx") && !xx) {
      nx = true;
    } else if (EqualsIgnoreCase(option, "xx") && !nx) {
      xx = true;
    } else if (EqualsIgnoreCase(option, "get")) {
      get = true;
    } else if (EqualsIgnoreCase(option, "keepttl") && !expiry) {
      expiry = "KEEPTTL";
    } else if ((EqualsIgnoreCase(option, "ex") || EqualsIgnoreCase(option, "px") ||
                EqualsIgnoreCase(option, "exat") || EqualsIgnoreCase(option, "pxat")) &&
               !expiry && has_next) {
      int64_t amount = 0;
      if (!ParseInt64(ctx.args[i + 1], &amount)) {
        ctx.reply.Error("ERR value is not an integer or out of range");
        return;
      }
      if (amount <= 0) {
        ctx.reply.Error("ERR invalid expire time in 'set' command");
        return;
      }
      expiry = "EX";
      ++i;
    } else {
      ctx.reply.Error("ERR syntax error");
      return;
    }
  }
  if (expiry) {
    ctx.reply.Error("ERR expiry (EX, PX, EXAT, PXAT, KEEPTTL) is not supported by ringkv yet");
    return;
  }
  if (ctx.server.cluster().clustered()) return ClusterSet(ctx, nx, xx, get);
  bool found = false, live = false;
  if (!ReadKey(ctx, ctx.args[1], &found, &live, storage::Engine::ReadFor::kUpdate)) return;
  std::string old_value;
  if (get && live) old_value = ScratchView().winner().value;
  bool condition_met = SetConditionMet(nx, xx, live);
  if (condition_met && !WriteKey(ctx, ctx.args[1], found, ctx.args[2], false)) return;
  ReplySet(ctx.reply, get, live, old_value, condition_met);
}

void ReplySet(resp::ReplyWriter& writer, bool get, bool live, std::string_view old_value,
              bool written) {
  if (get) {
    if (live) {
      writer.Bulk(old_value);
    } else {
      writer.Null();
    }
  } else if (written) {
    writer.SimpleString("OK");
  } else {
    writer.Null();
  }
}

void SetnxCommand(CommandContext& ctx) {
  if (ctx.server.cluster().clustered()) return ClusterReadModifyWrite(ctx, RmwKind::kSetnx);
  bool found = false, live = false;
  if (!ReadKey(ctx, ctx.args[1], &found, &live, storage::Engine::ReadFor::kUpdate)) return;
  if (live) {
    ctx.reply.Integer(0);
    return;
  }
  if (!WriteKey(ctx, ctx.args[1], found, ctx.args[2], false)) return;
  ctx.reply.Integer(1);
}

void GetdelCommand(CommandContext& ctx) {
  if (ctx.server.cluster().clustered()) return ClusterReadModifyWrite(ctx, RmwKind::kGetdel);
  bool found = false, live = false;
  if (!ReadKey(ctx, ctx.args[1], &found, &live, storage::Engine::ReadFor::kUpdate)) return;
  CountLookup(ctx, live);
  if (!live) {
    ctx.reply.Null();
    return;
  }
  std::string value(ScratchView().winner().value);
  if (!WriteKey(ctx, ctx.args[1], found, "", true)) return;
  ctx.reply.Bulk(value);
}

void DelCommand(CommandContext& ctx) {
  if (ctx.server.cluster().clustered()) return ClusterDel(ctx);
  int64_t deleted = 0;
  for (size_t i = 1; i < ctx.args.size(); ++i) {
    bool found = false, live = false;
    if (!ReadKey(ctx, ctx.args[i], &found, &live, storage::Engine::ReadFor::kUpdate)) return;
    if (!live) continue;
    if (!WriteKey(ctx, ctx.args[i], found, "", true)) return;
    ++deleted;
  }
  ctx.reply.Integer(deleted);
}

void ExistsCommand(CommandContext& ctx) {
  if (ctx.server.cluster().clustered()) return ClusterMgetOrExists(ctx, true);
  int64_t count = 0;
  for (size_t i = 1; i < ctx.args.size(); ++i) {
    bool found = false, live = false;
    if (!ReadKey(ctx, ctx.args[i], &found, &live)) return;
    count += live ? 1 : 0;
  }
  ctx.reply.Integer(count);
}

void MgetCommand(CommandContext& ctx) {
  if (ctx.server.cluster().clustered()) return ClusterMgetOrExists(ctx, false);
  // Read every key before writing the header, so a storage error can still
  // be the whole reply.
  std::string values;
  resp::ReplyWriter writer(&values, ctx.reply.protocol());
  for (size_t i = 1; i < ctx.args.size(); ++i) {
    bool found = false, live = false;
    if (!ReadKey(ctx, ctx.args[i], &found, &live)) return;
    CountLookup(ctx, live);
    if (live) {
      writer.Bulk(ScratchView().winner().value);
    } else {
      writer.Null();
    }
  }
  ctx.reply.ArrayHeader(ctx.args.size() - 1);
  ctx.reply.Raw(values);
}

void MsetCommand(CommandContext& ctx) {
  if (ctx.args.size() % 2 == 0) return ReplyWrongArity(ctx.reply, "mset");
  if (ctx.server.cluster().clustered()) return ClusterMset(ctx, false);
  for (size_t i = 1; i + 1 < ctx.args.size(); i += 2) {
    bool found = false, live = false;
    if (!ReadKey(ctx, ctx.args[i], &found, &live, storage::Engine::ReadFor::kUpdate)) return;
    if (!WriteKey(ctx, ctx.args[i], found, ctx.args[i + 1], false)) return;
  }
  ctx.reply.SimpleString("OK");
}

void MsetnxCommand(CommandContext& ctx) {
  if (ctx.args.size() % 2 == 0) return ReplyWrongArity(ctx.reply, "msetnx");
  if (ctx.server.cluster().clustered()) return ClusterMset(ctx, true);
  for (size_t i = 1; i + 1 < ctx.args.size(); i += 2) {
    bool found = false, live = false;
    if (!ReadKey(ctx, ctx.args[i], &found, &live)) return;
    if (live) {
      ctx.reply.Integer(0);
      return;
    }
  }
  for (size_t i = 1; i + 1 < ctx.args.size(); i += 2) {
    bool found = false, live = false;
    if (!ReadKey(ctx, ctx.args[i], &found, &live, storage::Engine::ReadFor::kUpdate)) return;
    if (!WriteKey(ctx, ctx.args[i], found, ctx.args[i + 1], false)) return;
  }
  ctx.reply.Integer(1);
}

void StrlenCommand(CommandContext& ctx) {
  if (ctx.server.cluster().clustered()) return ClusterStrlen(ctx);
  bool found = false, live = false;
  if (!ReadKey(ctx, ctx.args[1], &found, &live)) return;
  ctx.reply.Integer(live ? static_cast<int64_t>(ScratchView().winner().value.size()) : 0);
}

void AppendCommand(CommandContext& ctx) {
  if (ctx.server.cluster().clustered()) return ClusterReadModifyWrite(ctx, RmwKind::kAppend);
  bool found = false, live = false;
  if (!ReadKey(ctx, ctx.args[1], &found, &live, storage::Engine::ReadFor::kUpdate)) return;
  std::string value;
  if (live) value = ScratchView().winner().value;
  if (value.size() + ctx.args[2].size() >
      static_cast<size_t>(ctx.server.config().proto_max_bulk_len)) {
    ctx.reply.Error("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
    return;
  }
  value += ctx.args[2];
  if (!WriteKey(ctx, ctx.args[1], found, value, false)) return;
  ctx.reply.Integer(static_cast<int64_t>(value.size()));
}

// VCLOCK key: [ [[actor, counter], ...], [[actor, counter, timestamp_ms,
// value-or-"tombstone" flag], ...] ] as documented in docs/commands.md.
void VclockCommand(CommandContext& ctx) {
  if (ctx.server.cluster().clustered()) return ClusterVclock(ctx);
  bool found = false, live = false;
  if (!ReadKey(ctx, ctx.args[1], &found, &live)) return;
  if (!found) {
    ctx.reply.NullArray();
    return;
  }
  const storage::SiblingSetView& view = ScratchView();
  ctx.reply.ArrayHeader(2);
  ctx.reply.ArrayHeader(view.clock().size());
  for (const auto& [actor, counter] : view.clock().entries()) {
    ctx.reply.ArrayHeader(2);
    ctx.reply.Bulk(storage::ActorToHex(actor));
    ctx.reply.Integer(static_cast<int64_t>(counter));
  }
  ctx.reply.ArrayHeader(view.sibling_count());
  for (size_t i = 0; i < view.sibling_count(); ++i) {
    const storage::SiblingRef& sibling = view.sibling(i);
    ctx.reply.ArrayHeader(4);
    ctx.reply.Bulk(storage::ActorToHex(sibling.dot.actor));
    ctx.reply.Integer(static_cast<int64_t>(sibling.dot.counter));
    ctx.reply.Integer(sibling.timestamp_ms);
    ctx.reply.Bulk(sibling.tombstone ? "tombstone" : "value");
  }
}

}  // namespace ringkv::server
