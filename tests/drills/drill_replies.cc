// MEMBERS and HINTS replies and the failure-handling config keys; see
// drill_replies.h.
#include "drills/drill_replies.h"

#include <cstdlib>
#include <map>
#include <sstream>
#include <string_view>

namespace ringkv::drills {
namespace {

// One entry's field/value pairs, values kept as replies.
using Fields = std::map<std::string, const redisReply*>;

bool IsString(const redisReply* reply) {
  return reply->type == REDIS_REPLY_STRING || reply->type == REDIS_REPLY_STATUS;
}

std::optional<Fields> ReadFields(const redisReply* entry, const std::string& where,
                                 std::string* error) {
  if (entry->type != REDIS_REPLY_ARRAY || entry->elements % 2 != 0) {
    *error = where + ": expected a flat array of field/value pairs";
    return std::nullopt;
  }
  Fields fields;
  for (size_t i = 0; i < entry->elements; i += 2) {
    const redisReply* name = entry->element[i];
    if (!IsString(name)) {
      *error = where + ": field name " + std::to_string(i / 2) + " is not a string";
      return std::nullopt;
    }
    fields[std::string(name->str, name->len)] = entry->element[i + 1];
  }
  return fields;
}

// Reads a field into *out. Missing fields are an error only when `required`.
bool GetString(const Fields& fields, const char* name, bool required, std::string* out,
               std::string* error) {
  auto found = fields.find(name);
  if (found == fields.end()) {
    if (required) *error = std::string("missing field '") + name + "'";
    return !required;
  }
  const redisReply* value = found->second;
  if (IsString(value)) {
    out->assign(value->str, value->len);
  } else if (value->type == REDIS_REPLY_INTEGER) {
    *out = std::to_string(value->integer);
  } else {
    *error = std::string("field '") + name + "' is not a string";
    return false;
  }
  return true;
}

bool GetInteger(const Fields& fields, const char* name, bool required, int64_t* out,
                std::string* error) {
  auto found = fields.find(name);
  if (found == fields.end()) {
    if (required) *error = std::string("missing field '") + name + "'";
    return !required;
  }
  const redisReply* value = found->second;
  if (value->type == REDIS_REPLY_INTEGER) {
    *out = value->integer;
    return true;
  }
  if (IsString(value) && value->len > 0) {
    std::string text(value->str, value->len);
    char* end = nullptr;
    long long parsed = std::strtoll(text.c_str(), &end, 10);
    if (*end == '\0') {
      *out = parsed;
      return true;
    }
  }
  *error = std::string("field '") + name + "' is not an integer";
  return false;
}

bool ArrayOrError(const redisReply* reply, const char* command, std::string* error) {
  if (reply == nullptr) {
    *error = std::string(command) + ": no reply (connection error)";
    return false;
  }
  if (reply->type == REDIS_REPLY_ERROR) {
    *error = std::string(command) + ": -" + std::string(reply->str, reply->len);
    return false;
  }
  if (reply->type != REDIS_REPLY_ARRAY) {
    *error =
        std::string(command) + ": expected an array, got reply type " + std::to_string(reply->type);
    return false;
  }
  return true;
}

}  // namespace

std::optional<std::vector<MemberView>> ParseMembers(const redisReply* reply, std::string* error) {
  if (!ArrayOrError(reply, "MEMBERS", error)) return std::nullopt;
  std::vector<MemberView> members;
  for (size_t i = 0; i < reply->elements; ++i) {
    std::string where = "MEMBERS entry " + std::to_string(i);
    std::optional<Fields> fields = ReadFields(reply->element[i], where, error);
    if (!fields) return std::nullopt;
    MemberView member;
    int64_t self = 0;
    std::string problem;
    bool ok = GetString(*fields, "name", true, &member.name, &problem) &&
              GetString(*fields, "state", true, &member.state, &problem) &&
              GetInteger(*fields, "self", true, &self, &problem) &&
              GetString(*fields, "host", false, &member.host, &problem) &&
              GetInteger(*fields, "port", false, &member.port, &problem) &&
              GetInteger(*fields, "peer_port", false, &member.peer_port, &problem) &&
              GetInteger(*fields, "heartbeat", false, &member.heartbeat, &problem) &&
              GetInteger(*fields, "age_ms", false, &member.age_ms, &problem) &&
              GetString(*fields, "incarnation", false, &member.incarnation, &problem) &&
              GetInteger(*fields, "weight", false, &member.weight, &problem) &&
              GetInteger(*fields, "partitions", false, &member.partitions, &problem);
    if (!ok) {
      *error = where + ": " + problem;
      return std::nullopt;
    }
    if (member.state != "alive" && member.state != "suspect") {
      *error = where + ": state '" + member.state + "' is neither alive nor suspect";
      return std::nullopt;
    }
    member.self = self != 0;
    members.push_back(std::move(member));
  }
  return members;
}

std::optional<std::vector<HintTargetView>> ParseHints(const redisReply* reply, std::string* error) {
  if (!ArrayOrError(reply, "HINTS", error)) return std::nullopt;
  std::vector<HintTargetView> targets;
  for (size_t i = 0; i < reply->elements; ++i) {
    std::string where = "HINTS entry " + std::to_string(i);
    std::optional<Fields> fields = ReadFields(reply->element[i], where, error);
    if (!fields) return std::nullopt;
    HintTargetView target;
    int64_t delivering = 0;
    std::string problem;
    bool ok = GetString(*fields, "target", true, &target.target, &problem) &&
              GetInteger(*fields, "count", true, &target.count, &problem) &&
              GetInteger(*fields, "delivered", true, &target.delivered, &problem) &&
              GetInteger(*fields, "dropped", true, &target.dropped, &problem) &&
              GetInteger(*fields, "bytes", false, &target.bytes, &problem) &&
              GetInteger(*fields, "delivering", false, &delivering, &problem);
    if (!ok) {
      *error = where + ": " + problem;
      return std::nullopt;
    }
    target.delivering = delivering != 0;
    targets.push_back(std::move(target));
  }
  return targets;
}

bool IsUnknownCommand(const redisReply* reply) {
  if (reply == nullptr || reply->type != REDIS_REPLY_ERROR) return false;
  std::string_view text(reply->str, reply->len);
  return text.rfind("ERR unknown command", 0) == 0;
}

std::string FailureHandlingConfig(bool enabled, int gossip_interval_ms, int suspect_after_ms,
                                  const std::string& seed) {
  if (!enabled) return "";
  std::ostringstream lines;
  lines << "gossip_interval_ms = " << gossip_interval_ms << "\n";
  if (suspect_after_ms > 0) lines << "suspect_after_ms = " << suspect_after_ms << "\n";
  lines << "seeds = [\"" << seed << "\"]\n";
  return lines.str();
}

}  // namespace ringkv::drills
