#include "server/config.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <optional>
#include <set>
#include <sstream>
#include <toml++/toml.h>

#include "cluster/gossip.h"

namespace ringkv::server {
namespace {

// One row per key: where it lives in the file, how it is checked, and how it
// is shown by CONFIG GET. Adding a key means adding a row here and a
// documented line in conf/ringkv.toml.
struct KeySpec {
  const char* section;
  const char* name;
  const char* redis_name;  // Redis's CONFIG name, or nullptr.
  // Applies a TOML value; returns "" or an error describing the bad value.
  std::function<std::string(const toml::node&, Config*)> apply;
  std::function<std::string(const Config&)> show;
};

std::function<std::string(const toml::node&, Config*)> IntegerKey(int64_t Config::*field,
                                                                  int64_t min, int64_t max) {
  return [field, min, max](const toml::node& node, Config* config) -> std::string {
    std::optional<int64_t> value = node.value<int64_t>();
    if (!node.is_integer() || !value) return "must be an integer";
    if (*value < min || *value > max) {
      return "must be between " + std::to_string(min) + " and " + std::to_string(max);
    }
    config->*field = *value;
    return "";
  };
}

std::function<std::string(const toml::node&, Config*)> StringKey(std::string Config::*field,
                                                                 bool allow_empty) {
  return [field, allow_empty](const toml::node& node, Config* config) -> std::string {
    if (!node.is_string()) return "must be a string";
    std::string value = *node.value<std::string>();
    if (!allow_empty && value.empty()) return "must not be empty";
    config->*field = value;
    return "";
  };
}

std::function<std::string(const toml::node&, Config*)> BooleanKey(bool Config::*field) {
  return [field](const toml::node& node, Config* config) -> std::string {
    if (!node.is_boolean()) return "must be true or false";
    config->*field = *node.value<bool>();
    return "";
  };
}

// A number from 0 to 1 (an integer 0 or 1 too).
std::function<std::string(const toml::node&, Config*)> FractionKey(double Config::*field) {
  return [field](const toml::node& node, Config* config) -> std::string {
    std::optional<double> value = node.value<double>();
    if (!(node.is_floating_point() || node.is_integer()) || !value || !(*value >= 0) ||
        *value > 1) {
      return "must be a number from 0 to 1";
    }
    config->*field = *value;
    return "";
  };
}

std::function<std::string(const Config&)> ShowFraction(double Config::*field) {
  return [field](const Config& config) {
    char text[32];
    std::snprintf(text, sizeof(text), "%g", config.*field);
    return std::string(text);
  };
}

std::function<std::string(const Config&)> ShowBoolean(bool Config::*field) {
  return [field](const Config& config) { return std::string(config.*field ? "yes" : "no"); };
}

std::function<std::string(const Config&)> ShowInteger(int64_t Config::*field) {
  return [field](const Config& config) { return std::to_string(config.*field); };
}
std::function<std::string(const Config&)> ShowString(std::string Config::*field) {
  return [field](const Config& config) { return config.*field; };
}

// [[cluster.members]]: an array of tables, each checked key by key.
std::string ApplyMembers(const toml::node& node, Config* config) {
  const toml::array* array = node.as_array();
  if (!array) return "must be an array of tables ([[cluster.members]])";
  config->members.clear();
  std::set<std::string> names;
  for (size_t i = 0; i < array->size(); ++i) {
    const toml::table* table = array->get(i)->as_table();
    std::string where = "member " + std::to_string(i + 1) + ": ";
    if (!table) return where + "must be a table";
    MemberConfig member;
    for (const auto& [key, value] : *table) {
      std::string name(key.str());
      if (name == "name" || name == "host") {
        if (!value.is_string() || value.value<std::string>()->empty()) {
          return where + "'" + name + "' must be a non-empty string";
        }
        (name == "name" ? member.name : member.host) = *value.value<std::string>();
      } else if (name == "port" || name == "peer_port" || name == "weight") {
        std::optional<int64_t> number = value.value<int64_t>();
        int64_t max = name == "weight" ? 100 : 65535;
        if (!value.is_integer() || !number || *number < 1 || *number > max) {
          return where + "'" + name + "' must be an integer between 1 and " + std::to_string(max);
        }
        (name == "port" ? member.port : name == "peer_port" ? member.peer_port : member.weight) =
            *number;
      } else {
        return where + "unknown key '" + name + "'";
      }
    }
    if (member.name.empty() || member.host.empty()) return where + "needs 'name' and 'host'";
    if (!names.insert(member.name).second) return where + "duplicate name '" + member.name + "'";
    config->members.push_back(member);
  }
  return "";
}

// seeds = ["host:peer_port", ...]: checked with the parser gossip uses.
constexpr size_t kSeedsMax = 64;

std::string ApplySeeds(const toml::node& node, Config* config) {
  const toml::array* array = node.as_array();
  if (!array) return "must be an array of \"host:peer_port\" strings";
  if (array->size() > kSeedsMax) return "at most " + std::to_string(kSeedsMax) + " seeds";
  std::vector<std::string> seeds;
  for (size_t i = 0; i < array->size(); ++i) {
    std::string where = "seed " + std::to_string(i + 1) + ": ";
    const toml::node* element = array->get(i);
    if (!element->is_string()) return where + "must be a \"host:peer_port\" string";
    std::string seed = *element->value<std::string>();
    if (!cluster::ParsePeerAddress(seed, nullptr, nullptr)) {
      return where + "'" + seed + "' is not host:peer_port (port 1..65535)";
    }
    if (std::find(seeds.begin(), seeds.end(), seed) != seeds.end()) {
      return where + "duplicate '" + seed + "'";
    }
    seeds.push_back(seed);
  }
  config->seeds = std::move(seeds);
  return "";
}

std::string ShowSeeds(const Config& config) {
  std::string text;
  for (const std::string& seed : config.seeds) text += (text.empty() ? "" : " ") + seed;
  return text;
}

std::string ShowMembers(const Config& config) {
  std::string text;
  for (const MemberConfig& member : config.members) {
    if (!text.empty()) text += " ";
    text += member.name + "@" + member.host + ":" + std::to_string(member.port) + "/" +
            std::to_string(member.peer_port);
  }
  return text;
}

const std::vector<KeySpec>& KeySpecs() {
  static const std::vector<KeySpec> specs = {
      {"node", "name", nullptr, StringKey(&Config::name, false), ShowString(&Config::name)},
      {"node", "bind", "bind", StringKey(&Config::bind, false), ShowString(&Config::bind)},
      {"node", "port", "port", IntegerKey(&Config::port, 1, 65535), ShowInteger(&Config::port)},
      {"node", "data_dir", "dir", StringKey(&Config::data_dir, false),
       ShowString(&Config::data_dir)},
      {"node", "advertise_host", nullptr, StringKey(&Config::advertise_host, true),
       ShowString(&Config::advertise_host)},
      {"cluster", "peer_port", nullptr, IntegerKey(&Config::peer_port, 1, 65535),
       ShowInteger(&Config::peer_port)},
      {"cluster", "secret", nullptr, StringKey(&Config::secret, true),
       [](const Config&) { return std::string("(hidden)"); }},
      {"cluster", "n", nullptr, IntegerKey(&Config::n, 1, 16), ShowInteger(&Config::n)},
      {"cluster", "w", nullptr, IntegerKey(&Config::w, 1, 16), ShowInteger(&Config::w)},
      {"cluster", "r", nullptr, IntegerKey(&Config::r, 1, 16), ShowInteger(&Config::r)},
      {"cluster", "request_timeout_ms", nullptr,
       IntegerKey(&Config::request_timeout_ms, 10, 600000),
       ShowInteger(&Config::request_timeout_ms)},
      {"cluster", "commands_per_iteration", nullptr,
       IntegerKey(&Config::commands_per_iteration, 0, 1000000),
       ShowInteger(&Config::commands_per_iteration)},
      {"cluster", "peer_queue_bytes_max", nullptr,
       IntegerKey(&Config::peer_queue_bytes_max, 1024 * 1024, 1LL << 40),
       ShowInteger(&Config::peer_queue_bytes_max)},
      {"cluster", "members", nullptr, ApplyMembers, ShowMembers},
      {"cluster", "gossip_interval_ms", nullptr,
       IntegerKey(&Config::gossip_interval_ms, 10, 600000),
       ShowInteger(&Config::gossip_interval_ms)},
      {"cluster", "gossip_fanout", nullptr, IntegerKey(&Config::gossip_fanout, 1, 64),
       ShowInteger(&Config::gossip_fanout)},
      {"cluster", "suspect_after_ms", nullptr, IntegerKey(&Config::suspect_after_ms, 0, 86400000),
       [](const Config& config) { return std::to_string(SuspectAfterMs(config)); }},
      {"cluster", "seeds", nullptr, ApplySeeds, ShowSeeds},
      {"cluster", "sloppy_quorum", nullptr, BooleanKey(&Config::sloppy_quorum),
       ShowBoolean(&Config::sloppy_quorum)},
      {"cluster", "hint_after_ms", nullptr, IntegerKey(&Config::hint_after_ms, 0, 600000),
       [](const Config& config) { return std::to_string(HintAfterMs(config)); }},
      {"cluster", "read_repair_chance", nullptr, FractionKey(&Config::read_repair_chance),
       ShowFraction(&Config::read_repair_chance)},
      {"cluster", "read_retry_after_ms", nullptr,
       IntegerKey(&Config::read_retry_after_ms, 0, 600000),
       ShowInteger(&Config::read_retry_after_ms)},
      {"cluster", "hints_count_max", nullptr, IntegerKey(&Config::hints_count_max, 0, 1000000000),
       ShowInteger(&Config::hints_count_max)},
      {"cluster", "hints_bytes_max", nullptr, IntegerKey(&Config::hints_bytes_max, 0, 1LL << 46),
       ShowInteger(&Config::hints_bytes_max)},
      {"cluster", "hints_age_max_ms", nullptr,
       IntegerKey(&Config::hints_age_max_ms, 1000, 30LL * 86400 * 1000),
       ShowInteger(&Config::hints_age_max_ms)},
      {"storage", "fsync", "appendfsync",
       [](const toml::node& node, Config* config) -> std::string {
         if (!node.is_string()) return "must be one of always, everysec, no";
         std::string value = *node.value<std::string>();
         if (value == "always") {
           config->fsync = FsyncPolicy::kAlways;
         } else if (value == "everysec") {
           config->fsync = FsyncPolicy::kEverySecond;
         } else if (value == "no") {
           config->fsync = FsyncPolicy::kNo;
         } else {
           return "must be one of always, everysec, no";
         }
         return "";
       },
       [](const Config& config) { return std::string(FsyncPolicyName(config.fsync)); }},
      {"storage", "map_size_bytes", nullptr,
       IntegerKey(&Config::map_size_bytes, 1LL << 20, 1LL << 46),
       ShowInteger(&Config::map_size_bytes)},
      {"storage", "partitions", nullptr, IntegerKey(&Config::partitions, 1, 4096),
       ShowInteger(&Config::partitions)},
      {"storage", "write_path", nullptr,
       [](const toml::node& node, Config* config) -> std::string {
         if (!node.is_string()) return "must be one of btree, log";
         const std::string value = *node.value<std::string>();
         if (value != "btree" && value != "log") return "must be one of btree, log";
         config->write_log = value == "log";
         return "";
       },
       [](const Config& config) { return std::string(config.write_log ? "log" : "btree"); }},
      {"storage", "memtable_bytes_max", nullptr,
       IntegerKey(&Config::memtable_bytes_max, 4096, 1LL << 40),
       ShowInteger(&Config::memtable_bytes_max)},
      {"storage", "log_bytes_max", nullptr, IntegerKey(&Config::log_bytes_max, 4096, 1LL << 42),
       ShowInteger(&Config::log_bytes_max)},
      {"storage", "record_cache_bytes", nullptr,
       IntegerKey(&Config::record_cache_bytes, 0, 1LL << 40),
       ShowInteger(&Config::record_cache_bytes)},
      {"storage", "digest_cache_bytes", nullptr,
       IntegerKey(&Config::digest_cache_bytes, 0, 1LL << 40),
       ShowInteger(&Config::digest_cache_bytes)},
      {"storage", "checkpoint_sync_ms", nullptr,
       IntegerKey(&Config::checkpoint_sync_ms, 0, 3600000),
       ShowInteger(&Config::checkpoint_sync_ms)},
      {"storage", "log_retained_bytes_max", nullptr,
       IntegerKey(&Config::log_retained_bytes_max, 0, 1LL << 42),
       ShowInteger(&Config::log_retained_bytes_max)},
      {"limits", "proto_max_bulk_len", "proto-max-bulk-len",
       IntegerKey(&Config::proto_max_bulk_len, 1024 * 1024, 1LL << 40),
       ShowInteger(&Config::proto_max_bulk_len)},
      {"limits", "proto_max_multibulk_len", nullptr,
       IntegerKey(&Config::proto_max_multibulk_len, 1, 2147483647),
       ShowInteger(&Config::proto_max_multibulk_len)},
      {"limits", "proto_inline_max_size", nullptr,
       IntegerKey(&Config::proto_inline_max_size, 1024, 1LL << 30),
       ShowInteger(&Config::proto_inline_max_size)},
      {"limits", "client_query_buffer_limit", "client-query-buffer-limit",
       IntegerKey(&Config::client_query_buffer_limit, 1024 * 1024, 1LL << 40),
       ShowInteger(&Config::client_query_buffer_limit)},
      {"limits", "allocator_dirty_max", nullptr,
       IntegerKey(&Config::allocator_dirty_max, 0, 1LL << 42),
       ShowInteger(&Config::allocator_dirty_max)},
      {"limits", "client_output_buffer_limit", nullptr,
       IntegerKey(&Config::client_output_buffer_limit, 1024 * 1024, 1LL << 40),
       ShowInteger(&Config::client_output_buffer_limit)},
      {"limits", "maxclients", "maxclients", IntegerKey(&Config::maxclients, 1, 1000000),
       ShowInteger(&Config::maxclients)},
      {"limits", "client_pipeline_depth", nullptr,
       IntegerKey(&Config::client_pipeline_depth, 1, 1000000),
       ShowInteger(&Config::client_pipeline_depth)},
      {"security", "requirepass", "requirepass", StringKey(&Config::requirepass, true),
       ShowString(&Config::requirepass)},
      {"log", "level", "loglevel",
       [](const toml::node& node, Config* config) -> std::string {
         static const std::set<std::string> levels = {"debug", "verbose", "notice",
                                                      "warning"};
         if (!node.is_string() || !levels.count(*node.value<std::string>())) {
           return "must be one of debug, verbose, notice, warning";
         }
         config->log_level = *node.value<std::string>();
         return "";
       },
       ShowString(&Config::log_level)},
  };
  return specs;
}

bool ApplyTable(const toml::table& root, const std::string& origin, Config* config,
                std::string* error) {
  for (const auto& [section_key, section_node] : root) {
    std::string section(section_key.str());
    const toml::table* table = section_node.as_table();
    bool known_section = false;
    for (const KeySpec& spec : KeySpecs()) known_section |= section == spec.section;
    if (!known_section || !table) {
      *error = origin + ": unknown config key '" + section + "'";
      return false;
    }
    for (const auto& [key, node] : *table) {
      std::string name(key.str());
      const KeySpec* found = nullptr;
      for (const KeySpec& spec : KeySpecs()) {
        if (section == spec.section && name == spec.name) found = &spec;
      }
      if (!found) {
        *error = origin + ": unknown config key '" + section + "." + name + "'";
        return false;
      }
      std::string problem = found->apply(node, config);
      if (!problem.empty()) {
        *error = origin + ": bad value for '" + section + "." + name + "': " + problem;
        return false;
      }
    }
  }
  return true;
}

// Checks that need several keys at once.
bool ValidateConfig(const std::string& origin, Config* config, std::string* error) {
  auto fail = [&](const std::string& key, const std::string& problem) {
    *error = origin + ": bad value for '" + key + "': " + problem;
    return false;
  };
  size_t members = config->members.empty() ? 1 : config->members.size();
  if (!config->members.empty()) {
    bool self_listed = false;
    for (const MemberConfig& member : config->members) self_listed |= member.name == config->name;
    if (!self_listed) {
      return fail("cluster.members", "this node ('" + config->name + "') is not listed");
    }
  }
  if ((!config->members.empty() || !config->seeds.empty()) && config->secret.empty()) {
    return fail("cluster.secret", "a cluster needs a secret");
  }
  if (SuspectAfterMs(*config) <= config->gossip_interval_ms) {
    return fail("cluster.suspect_after_ms",
                "must be longer than cluster.gossip_interval_ms (" +
                    std::to_string(config->gossip_interval_ms) + ")");
  }
  // With seeds, gossip brings members the file does not list: a node then
  // refuses requests (TRYAGAIN) until it knows n members, instead of
  // refusing to start.
  bool more_may_join = !config->seeds.empty();
  if (!more_may_join && config->n > static_cast<int64_t>(members)) {
    return fail("cluster.n", std::to_string(config->n) +
                                 " replicas need at least as many members (have " +
                                 std::to_string(members) + ")");
  }
  if (config->w > config->n || config->r > config->n) {
    return fail(config->w > config->n ? "cluster.w" : "cluster.r",
                "must be between 1 and cluster.n (" + std::to_string(config->n) + ")");
  }
  if (config->hint_after_ms >= config->request_timeout_ms) {
    return fail("cluster.hint_after_ms",
                "must be below cluster.request_timeout_ms (" +
                    std::to_string(config->request_timeout_ms) + "); 0 means half of it");
  }
  if (config->read_retry_after_ms >= config->request_timeout_ms) {
    return fail("cluster.read_retry_after_ms",
                "must be below cluster.request_timeout_ms (" +
                    std::to_string(config->request_timeout_ms) + "); 0 turns it off");
  }
  if (static_cast<int64_t>(members) > config->partitions) {
    return fail("storage.partitions", "fewer partitions than members");
  }
  return true;
}

bool ParseInteger(const char* text, int64_t* value) {
  char* end = nullptr;
  errno = 0;
  long long parsed = std::strtoll(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0') return false;
  *value = parsed;
  return true;
}

}  // namespace

const char* FsyncPolicyName(FsyncPolicy policy) {
  switch (policy) {
    case FsyncPolicy::kAlways:
      return "always";
    case FsyncPolicy::kEverySecond:
      return "everysec";
    case FsyncPolicy::kNo:
      return "no";
  }
  return "?";
}

bool ParseCommandLine(int argc, char** argv, CommandLine* command_line, std::string* error) {
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "-h" || flag == "--help") {
      command_line->show_help = true;
      continue;
    }
    if (flag == "-v" || flag == "--version") {
      command_line->show_version = true;
      continue;
    }
    if (i + 1 >= argc) {
      *error = "missing value after '" + flag + "'";
      return false;
    }
    const char* value = argv[++i];
    if (flag == "--config" || flag == "-c") {
      command_line->config_files.push_back(value);
    } else if (flag == "--bind") {
      command_line->bind = value;
    } else if (flag == "--port") {
      if (!ParseInteger(value, &command_line->port) || command_line->port < 1 ||
          command_line->port > 65535) {
        *error = "bad value for '--port': must be between 1 and 65535";
        return false;
      }
    } else if (flag == "--data-dir") {
      command_line->data_dir = value;
    } else if (flag == "--name") {
      command_line->name = value;
    } else {
      *error = "unknown option '" + flag + "'";
      return false;
    }
  }
  return true;
}

bool LoadConfigFromString(const std::string& toml_text, const std::string& origin,
                          Config* config, std::string* error) {
  *config = Config();
  toml::table root;
  try {
    root = toml::parse(toml_text, origin);
  } catch (const toml::parse_error& parse_error) {
    std::ostringstream message;
    message << origin << ":" << parse_error.source().begin.line << ": "
            << parse_error.description();
    *error = message.str();
    return false;
  }
  return ApplyTable(root, origin, config, error) && ValidateConfig(origin, config, error);
}

bool LoadConfig(const CommandLine& command_line, Config* config, std::string* error) {
  *config = Config();
  for (const std::string& path : command_line.config_files) {
    toml::table root;
    try {
      root = toml::parse_file(path);
    } catch (const toml::parse_error& parse_error) {
      std::ostringstream message;
      message << path << ":" << parse_error.source().begin.line << ": "
              << parse_error.description();
      *error = message.str();
      return false;
    }
    if (!ApplyTable(root, path, config, error)) return false;
    config->config_file += (config->config_file.empty() ? "" : ",") + path;
  }
  if (!command_line.bind.empty()) config->bind = command_line.bind;
  if (command_line.port > 0) config->port = command_line.port;
  if (!command_line.data_dir.empty()) config->data_dir = command_line.data_dir;
  if (!command_line.name.empty()) config->name = command_line.name;
  return ValidateConfig(config->config_file.empty() ? "command line" : config->config_file,
                        config, error);
}

int64_t SuspectAfterMs(const Config& config) {
  if (config.suspect_after_ms > 0) return config.suspect_after_ms;
  return cluster::GossipOptions::ForInterval(config.gossip_interval_ms).suspect_after_ms;
}

int64_t HintAfterMs(const Config& config) {
  return config.hint_after_ms > 0 ? config.hint_after_ms : config.request_timeout_ms / 2;
}

bool IsClustered(const Config& config) {
  return config.members.size() > 1 || !config.seeds.empty();
}

std::vector<std::pair<std::string, std::string>> ConfigParameters(const Config& config) {
  std::vector<std::pair<std::string, std::string>> parameters;
  for (const KeySpec& spec : KeySpecs()) {
    std::string value = spec.show(config);
    parameters.emplace_back(std::string(spec.section) + "." + spec.name, value);
    if (spec.redis_name) parameters.emplace_back(spec.redis_name, value);
  }
  // Redis parameters clients ask about, with the values that describe us:
  // no RDB snapshots; durability comes from LMDB, which plays the AOF's role.
  parameters.emplace_back("save", "");
  parameters.emplace_back("appendonly", "yes");
  parameters.emplace_back("databases", "1");
  return parameters;
}

}  // namespace ringkv::server
