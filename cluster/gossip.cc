// cluster/gossip.cc: the gossip state machine and the member-list encoding
// (docs/gossip.md).
#include "cluster/gossip.h"

#include <xxhash.h>

#include <algorithm>
#include <cassert>
#include <charconv>
#include <set>
#include <utility>

#include "cluster/peer_protocol.h"

namespace ringkv::cluster {
namespace {

constexpr uint8_t kMembersFormatVersion = 1;
constexpr size_t kChecksumBytes = 4;
// Two length bytes, two ports, weight, incarnation, created_ms, heartbeat,
// with one-byte name and host: the smallest record. A count is checked
// against it before anything is reserved.
constexpr size_t kRecordBytesMin = 1 + 1 + 1 + 1 + 2 + 2 + 4 + 8 + 8 + 8;

void PutFixed(uint64_t value, size_t bytes, std::string* out) {
  for (size_t i = 0; i < bytes; i++) out->push_back(static_cast<char>(value >> (8 * i)));
}

void PutShortString(std::string_view text, std::string* out) {
  assert(text.size() <= 255);
  out->push_back(static_cast<char>(text.size()));
  out->append(text);
}

// Reads from the front of *input; false when it is too short.
bool GetFixed(std::string_view* input, size_t bytes, uint64_t* value) {
  if (input->size() < bytes) return false;
  uint64_t result = 0;
  for (size_t i = 0; i < bytes; i++) {
    result |= static_cast<uint64_t>(static_cast<uint8_t>((*input)[i])) << (8 * i);
  }
  input->remove_prefix(bytes);
  *value = result;
  return true;
}

bool GetShortString(std::string_view* input, std::string* text) {
  uint64_t length = 0;
  if (!GetFixed(input, 1, &length) || input->size() < length) return false;
  text->assign(input->substr(0, length));
  input->remove_prefix(length);
  return true;
}

uint32_t Checksum(std::string_view bytes) {
  return static_cast<uint32_t>(XXH3_64bits(bytes.data(), bytes.size()));
}

bool Fail(std::string* error, std::string_view reason) {
  error->assign(reason);
  return false;
}

bool DecodeRecord(std::string_view* input, MemberRecord* record) {
  uint64_t port = 0, peer_port = 0, weight = 0;
  if (!GetShortString(input, &record->name) || !GetShortString(input, &record->host) ||
      !GetFixed(input, 2, &port) || !GetFixed(input, 2, &peer_port) ||
      !GetFixed(input, 4, &weight) || !GetFixed(input, 8, &record->incarnation) ||
      !GetFixed(input, 8, &record->created_ms) || !GetFixed(input, 8, &record->heartbeat)) {
    return false;
  }
  record->port = static_cast<uint16_t>(port);
  record->peer_port = static_cast<uint16_t>(peer_port);
  record->weight = static_cast<uint32_t>(weight);
  return true;
}

}  // namespace

// ---- Records and their encoding ---------------------------------------------

bool ValidateMemberRecord(const MemberRecord& record, std::string* error) {
  if (record.name.empty() || record.name.size() > kPeerNameBytesMax) {
    return Fail(error, "bad member name");
  }
  if (record.host.empty() || record.host.size() > kGossipHostBytesMax) {
    return Fail(error, "bad member host");
  }
  if (record.port == 0 || record.peer_port == 0) return Fail(error, "bad member port");
  if (record.weight == 0 || record.weight > kGossipWeightMax) {
    return Fail(error, "bad member weight");
  }
  if (record.incarnation == 0) return Fail(error, "bad member incarnation");
  return true;
}

bool IsNewerIncarnation(const MemberRecord& a, const MemberRecord& b) {
  if (a.created_ms != b.created_ms) return a.created_ms > b.created_ms;
  return a.incarnation > b.incarnation;
}

std::string PeerAddress(const MemberRecord& record) {
  return record.host + ":" + std::to_string(record.peer_port);
}

// Splits at the last colon, so "[::1]:7379" works too.
bool ParsePeerAddress(std::string_view address, std::string* host, uint16_t* port) {
  size_t colon = address.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon > kGossipHostBytesMax) return false;
  std::string_view port_text = address.substr(colon + 1);
  if (port_text.empty() || port_text.size() > 5 || port_text[0] == '0') return false;
  unsigned number = 0;
  auto result = std::from_chars(port_text.data(), port_text.data() + port_text.size(), number);
  if (result.ec != std::errc() || result.ptr != port_text.data() + port_text.size() || number < 1 ||
      number > 65535) {
    return false;
  }
  std::string_view host_text = address.substr(0, colon);
  if (host_text.size() > 2 && host_text.front() == '[' && host_text.back() == ']') {
    host_text = host_text.substr(1, host_text.size() - 2);
  }
  if (host) host->assign(host_text);
  if (port) *port = static_cast<uint16_t>(number);
  return true;
}

void EncodeMembers(std::span<const MemberRecord> records, std::string* out) {
  assert(records.size() <= kGossipMembersMax);
  size_t start = out->size();
  out->push_back(static_cast<char>(kMembersFormatVersion));
  PutFixed(records.size(), 4, out);
  for (const MemberRecord& record : records) {
    std::string error;
    assert(ValidateMemberRecord(record, &error));
    PutShortString(record.name, out);
    PutShortString(record.host, out);
    PutFixed(record.port, 2, out);
    PutFixed(record.peer_port, 2, out);
    PutFixed(record.weight, 4, out);
    PutFixed(record.incarnation, 8, out);
    PutFixed(record.created_ms, 8, out);
    PutFixed(record.heartbeat, 8, out);
  }
  PutFixed(Checksum(std::string_view(*out).substr(start)), kChecksumBytes, out);
}

bool DecodeMembers(std::string_view bytes, std::vector<MemberRecord>* out, std::string* error) {
  if (bytes.size() < 1 + 4 + kChecksumBytes) return Fail(error, "member list: truncated");
  std::string_view body = bytes.substr(0, bytes.size() - kChecksumBytes);
  std::string_view tail = bytes.substr(body.size());
  uint64_t stored = 0;
  GetFixed(&tail, kChecksumBytes, &stored);
  if (stored != Checksum(body)) return Fail(error, "member list: checksum mismatch");
  if (static_cast<uint8_t>(body[0]) != kMembersFormatVersion) {
    return Fail(error, "member list: unknown format version");
  }
  body.remove_prefix(1);
  uint64_t count = 0;
  GetFixed(&body, 4, &count);
  if (count > kGossipMembersMax || count > body.size() / kRecordBytesMin) {
    return Fail(error, "member list: bad count");
  }
  std::vector<MemberRecord> records(static_cast<size_t>(count));
  std::set<std::string_view> names;
  for (MemberRecord& record : records) {
    if (!DecodeRecord(&body, &record)) return Fail(error, "member list: truncated record");
    std::string reason;
    if (!ValidateMemberRecord(record, &reason)) return Fail(error, "member list: " + reason);
    if (!names.insert(record.name).second) return Fail(error, "member list: duplicate member");
  }
  if (!body.empty()) return Fail(error, "member list: trailing bytes");
  *out = std::move(records);
  return true;
}

GossipOptions GossipOptions::ForInterval(int64_t interval_ms) {
  GossipOptions options;
  options.interval_ms = interval_ms;
  options.suspect_after_ms = interval_ms * 5 / 2;
  options.local_pause_ms = interval_ms * 2;
  return options;
}

// ---- The state machine ------------------------------------------------------

Gossip::Gossip(MemberRecord self, GossipOptions options, uint64_t rng_seed)
    : self_(std::move(self)), options_(options), rng_state_(rng_seed) {
  std::string error;
  assert(ValidateMemberRecord(self_, &error));
  assert(options_.interval_ms > 0 && options_.fanout >= 1);
  assert(options_.suspect_after_ms > options_.interval_ms);
  assert(options_.local_pause_ms > options_.interval_ms);
  (void)error;
}

uint64_t Gossip::NextRandom() {
  // splitmix64: small, seedable, the same on every standard library.
  uint64_t z = (rng_state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void Gossip::AddKnown(std::span<const MemberRecord> records) {
  assert(!started_);
  std::vector<GossipEvent> ignored;
  for (const MemberRecord& record : records) OnRecord(record, 0, &ignored);
}

bool Gossip::AddSeed(std::string_view address) {
  assert(!started_);
  if (!ParsePeerAddress(address, nullptr, nullptr) || seeds_.size() >= kGossipMembersMax) {
    return false;
  }
  if (std::find(seeds_.begin(), seeds_.end(), address) == seeds_.end()) {
    seeds_.emplace_back(address);
  }
  return true;
}

bool Gossip::AddConfigured(const MemberRecord& record) {
  assert(!started_);
  MemberRecord placeholder = record;
  placeholder.incarnation = 1;  // Only for validation: the rest must be right.
  placeholder.created_ms = 0;
  placeholder.heartbeat = 0;
  std::string error;
  if (!ValidateMemberRecord(placeholder, &error)) return false;
  if (IsKnown(record.name) || members_.size() + 1 >= kGossipMembersMax) return true;
  placeholder.incarnation = 0;
  members_.emplace(record.name, Member{std::move(placeholder), MemberState::kAlive, 0});
  return true;
}

void Gossip::Start(int64_t now_ms) {
  assert(!started_);
  started_ = true;
  next_round_ms_ = now_ms;
  last_tick_ms_ = now_ms;
  for (auto& [name, member] : members_) member.last_advance_ms = now_ms;
}

GossipTickResult Gossip::Tick(int64_t now_ms) {
  assert(started_);
  GossipTickResult result;
  now_ms = std::max(now_ms, last_tick_ms_);  // A monotonic clock never goes back; be safe.
  if (now_ms - last_tick_ms_ > options_.local_pause_ms) {
    stats_.local_pauses++;
    for (auto& [name, member] : members_) {
      member.last_advance_ms = std::max(member.last_advance_ms, now_ms);
    }
  }
  last_tick_ms_ = now_ms;
  if (now_ms >= next_round_ms_) {
    stats_.rounds++;
    self_.heartbeat++;
    PickTargets(&result.targets);
    AddSeedTargets(&result.targets);
    // Rounds keep their phase; after a stall the next one is a full
    // interval away instead of a burst of catch-up rounds.
    next_round_ms_ += options_.interval_ms;
    if (next_round_ms_ <= now_ms) next_round_ms_ = now_ms + options_.interval_ms;
  }
  CheckSuspects(now_ms, &result.events);
  return result;
}

std::vector<GossipEvent> Gossip::OnGossip(std::span<const MemberRecord> table, int64_t now_ms) {
  assert(started_);
  stats_.tables_received++;
  std::vector<GossipEvent> events;
  for (const MemberRecord& record : table) OnRecord(record, now_ms, &events);
  return events;
}

void Gossip::OnRecord(const MemberRecord& record, int64_t now_ms,
                      std::vector<GossipEvent>* events) {
  std::string error;
  if (!ValidateMemberRecord(record, &error)) {
    stats_.records_invalid++;
    return;
  }
  if (record.name == self_.name) {
    OnSelfRecord(record, events);
    return;
  }
  auto it = members_.find(record.name);
  if (it == members_.end()) {
    if (members_.size() + 1 >= kGossipMembersMax) {
      stats_.records_dropped++;
      return;
    }
    members_.emplace(record.name, Member{record, MemberState::kAlive, now_ms});
    events->push_back({GossipEvent::Kind::kJoined, record.name});
    return;
  }
  Member& member = it->second;
  if (member.record.incarnation == 0) {
    // A configured placeholder: its first record is how it joins.
    member = Member{record, MemberState::kAlive, now_ms};
    events->push_back({GossipEvent::Kind::kJoined, record.name});
    return;
  }
  if (record.incarnation != member.record.incarnation) {
    if (!IsNewerIncarnation(record, member.record)) {
      stats_.records_stale++;  // The old incarnation's record still circulating.
      return;
    }
    member = Member{record, MemberState::kAlive, now_ms};
    events->push_back({GossipEvent::Kind::kIncarnationChanged, record.name});
    return;
  }
  if (record.heartbeat <= member.record.heartbeat) {
    stats_.records_stale++;
    return;
  }
  // The newer heartbeat's record is the newer word on the rest too (a node
  // restarted on the same data directory may have a new address or weight).
  member.record = record;
  member.last_advance_ms = now_ms;
  if (member.state == MemberState::kSuspect) {
    member.state = MemberState::kAlive;
    events->push_back({GossipEvent::Kind::kAlive, record.name});
  }
}

void Gossip::OnSelfRecord(const MemberRecord& record, std::vector<GossipEvent>* events) {
  if (record.incarnation != self_.incarnation) {
    // An older incarnation of us is what peers remember from before a wipe;
    // ours replaces it as it spreads. A newer one is a conflict.
    if (IsNewerIncarnation(record, self_)) {
      stats_.self_conflicts++;
      events->push_back({GossipEvent::Kind::kSelfConflict, record.name});
    }
    return;
  }
  // Peers remember a heartbeat at least as high as ours: we restarted and
  // counted from an older persisted value. Jump to it, so the next round's
  // increment is an advance for them instead of silence.
  if (record.heartbeat > self_.heartbeat) self_.heartbeat = record.heartbeat;
}

void Gossip::PickTargets(std::vector<GossipTarget>* targets) {
  if (members_.empty()) return;
  if (members_.size() + 1 <= options_.full_mesh_members_max) {
    for (const auto& [name, member] : members_) {
      targets->push_back({GossipTarget::Kind::kMember, name});
    }
    return;
  }
  // Walk a shuffled round-robin order rather than drawing at random: every
  // peer then hears from us once per pass, so no member goes without news
  // by bad luck. Suspect members are skipped while alive ones remain, so a
  // dead node does not eat the fanout that keeps the others informed.
  size_t alive = 0;
  for (const auto& [name, member] : members_) alive += member.state == MemberState::kAlive;
  size_t wanted = std::min<size_t>(options_.fanout, members_.size());
  std::vector<std::string_view> picked;
  // Bounded: two passes over a rotation see every member at least once.
  for (size_t step = 0; picked.size() < wanted && step < 2 * members_.size() + 2; step++) {
    if (rotation_position_ >= rotation_.size()) {
      rotation_.clear();
      for (const auto& [name, member] : members_) rotation_.push_back(name);
      for (size_t i = rotation_.size(); i > 1; i--) {
        std::swap(rotation_[i - 1], rotation_[NextRandom() % i]);
      }
      rotation_position_ = 0;
    }
    const std::string& name = rotation_[rotation_position_++];
    auto it = members_.find(name);
    if (it == members_.end()) continue;
    bool skip_suspect = it->second.state == MemberState::kSuspect && alive >= wanted;
    if (skip_suspect || std::find(picked.begin(), picked.end(), name) != picked.end()) continue;
    picked.push_back(it->first);
  }
  for (std::string_view name : picked)
    targets->push_back({GossipTarget::Kind::kMember, std::string(name)});
}

void Gossip::AddSeedTargets(std::vector<GossipTarget>* targets) const {
  for (const std::string& seed : seeds_) {
    bool known = PeerAddress(self_) == seed;
    for (auto it = members_.begin(); !known && it != members_.end(); ++it) {
      known = PeerAddress(it->second.record) == seed;
    }
    if (!known) targets->push_back({GossipTarget::Kind::kSeed, seed});
  }
}

void Gossip::CheckSuspects(int64_t now_ms, std::vector<GossipEvent>* events) {
  for (auto& [name, member] : members_) {
    if (member.state == MemberState::kAlive &&
        now_ms - member.last_advance_ms >= options_.suspect_after_ms) {
      member.state = MemberState::kSuspect;
      events->push_back({GossipEvent::Kind::kSuspect, name});
    }
  }
}

std::vector<MemberRecord> Gossip::Table() const {
  std::vector<MemberRecord> table;
  table.reserve(members_.size() + 1);
  table.push_back(self_);
  for (const auto& [name, member] : members_) {
    if (member.record.incarnation != 0) table.push_back(member.record);
  }
  return table;
}

std::vector<MemberStatus> Gossip::Members(int64_t now_ms) const {
  std::vector<MemberStatus> result;
  result.reserve(members_.size() + 1);
  result.push_back({self_, MemberState::kAlive, true, now_ms, 0});
  for (const auto& [name, member] : members_) {
    result.push_back({member.record, member.state, false, member.last_advance_ms,
                      now_ms - member.last_advance_ms});
  }
  return result;
}

bool Gossip::IsKnown(std::string_view name) const {
  return name == self_.name || members_.find(name) != members_.end();
}

const MemberRecord* Gossip::Find(std::string_view name) const {
  if (name == self_.name) return &self_;
  auto it = members_.find(name);
  return it == members_.end() ? nullptr : &it->second.record;
}

bool Gossip::IsSuspect(std::string_view name) const {
  auto it = members_.find(name);
  return it != members_.end() && it->second.state == MemberState::kSuspect;
}

size_t Gossip::AliveCount() const {
  size_t alive = 1;
  for (const auto& [name, member] : members_) alive += member.state == MemberState::kAlive;
  return alive;
}

int64_t Gossip::NextDeadlineMs() const {
  int64_t deadline = next_round_ms_;
  for (const auto& [name, member] : members_) {
    if (member.state == MemberState::kAlive) {
      deadline = std::min(deadline, member.last_advance_ms + options_.suspect_after_ms);
    }
  }
  return deadline;
}

}  // namespace ringkv::cluster
