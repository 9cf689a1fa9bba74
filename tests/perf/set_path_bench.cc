// tests/perf/set_path_bench.cc: the SET path's core in one process, for
// counting its cost without sockets, a loop or a shared machine's noise.
//
// Two nodes of a 3-node ring on real LMDB engines in a temporary directory:
// node n1 coordinates writes (Coordinator::Write on its EngineStore), its
// RK.PUT requests to n2 are encoded, parsed with the RESP parser, decoded and
// served by n2's coordinator (the replica merge), and n2's acks come back
// the same way. n3 never answers (its requests are dropped; the writes end
// at OnTick). Writes come in batches that share one commit, as an iteration
// of the event loop does.
//
// Usage: set_path_bench [writes] [batch] [value_bytes]   (300000 200 3)
// It runs the writes twice over 100,000 keys (a load round, then a measured
// one) and prints the thread CPU time per write of each side. For exact
// counts run it under callgrind and read the inclusive cost of
// CoordinatorPhase, ReplicaPhase and AckPhase (each covers both rounds):
//   valgrind --tool=callgrind ./set_path_bench 50000 200 3
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <variant>

#include "cluster/coordinator.h"
#include "cluster/engine_store.h"
#include "cluster/peer_protocol.h"
#include "cluster/ring.h"
#include "resp/parser.h"
#include "storage/engine.h"

namespace ringkv {
namespace {

double ThreadCpuNs() {
  timespec now;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) * 1e9 + static_cast<double>(now.tv_nsec);
}

struct Node {
  std::unique_ptr<storage::Engine> engine;
  std::unique_ptr<cluster::EngineStore> store;
  std::unique_ptr<cluster::Coordinator> coordinator;
  resp::RequestParser parser{resp::ParserLimits{}};
  std::string inbox;  // Encoded messages from the other node.
};

void OpenNode(Node* node, const std::string& name, const std::string& dir,
              const cluster::Ring& ring) {
  storage::EngineOptions options;
  options.data_dir = dir;
  options.map_size_bytes = 1ULL << 30;
  options.partition_count = 64;
  options.node_name = name;
  storage::Status status = storage::Engine::Open(options, &node->engine);
  if (!status.ok()) {
    fprintf(stderr, "%s\n", status.ToString().c_str());
    exit(1);
  }
  node->store = std::make_unique<cluster::EngineStore>(node->engine.get());
  node->coordinator = std::make_unique<cluster::Coordinator>(name, node->store.get());
  node->coordinator->SetRing(ring);
}

void Commit(Node* node) {
  if (!node->engine->Commit().ok()) abort();
  node->engine->EndIteration();
}

// Parses and delivers every message in `to->inbox` as coming from `from`.
void Deliver(Node* to, const std::string& from) {
  std::string_view input = to->inbox;
  while (!input.empty()) {
    size_t consumed = 0;
    if (to->parser.Feed(input, &consumed) != resp::ParseStatus::kComplete) abort();
    input.remove_prefix(consumed);
    cluster::Message message;
    std::string error;
    if (!cluster::DecodeMessage(to->parser.args(), &message, &error)) abort();
    to->coordinator->OnMessage(from, std::move(message), 0);
  }
  to->inbox.clear();
}

// Encodes the outbox of `from` into the inbox of `to`; drops the rest.
void Send(Node* from, const std::string& to_name, Node* to) {
  for (cluster::Envelope& envelope : from->coordinator->TakeOutbox()) {
    if (envelope.to != to_name) continue;
    std::visit([to](const auto& message) { cluster::EncodeMessage(message, &to->inbox); },
               envelope.message);
  }
}

__attribute__((noinline)) void CoordinatorPhase(Node* a, Node* b, std::mt19937_64* random,
                                                int batch, size_t value_bytes, int* acked) {
  for (int i = 0; i < batch; ++i) {
    char key[32];
    snprintf(key, sizeof(key), "key:%012llu",
             static_cast<unsigned long long>((*random)() % 100000));
    storage::Sibling version;
    version.timestamp_ms = 1700000000000;
    version.value.assign(value_bytes, 'x');
    a->coordinator->Write(key, std::move(version), nullptr, {3, 2, 2}, 0,
                          [acked](cluster::WriteResult result) { *acked += result.ok; });
    Send(a, "n2", b);
  }
  Commit(a);
}

__attribute__((noinline)) void ReplicaPhase(Node* a, Node* b) {
  Deliver(b, "n1");
  Send(b, "n1", a);
  Commit(b);
}

__attribute__((noinline)) void AckPhase(Node* a) {
  Deliver(a, "n2");
  a->coordinator->OnTick(1000000);  // Ends the writes: n3 never answers.
  a->coordinator->TakeOutbox();
}

}  // namespace
}  // namespace ringkv

int main(int argc, char** argv) {
  using namespace ringkv;  // NOLINT: a small program.
  const int writes = argc > 1 ? atoi(argv[1]) : 300000;
  const int batch = argc > 2 ? atoi(argv[2]) : 200;
  const size_t value_bytes = argc > 3 ? static_cast<size_t>(atoi(argv[3])) : 3;
  if (writes <= 0 || batch <= 0) return 2;
  const std::string dir = "/tmp/set_path_bench." + std::to_string(getpid());
  std::filesystem::remove_all(dir);
  cluster::Ring ring = cluster::Ring::Claim(64, {{"n1", 1}, {"n2", 1}, {"n3", 1}});
  Node a, b;
  OpenNode(&a, "n1", dir + "/n1", ring);
  OpenNode(&b, "n2", dir + "/n2", ring);
  std::mt19937_64 random(1);
  double coordinator_ns = 0;
  double replica_ns = 0;
  int acked = 0;
  for (int round = 0; round < 2; ++round) {  // A load round, then the measured one.
    coordinator_ns = replica_ns = 0;
    acked = 0;
    for (int done = 0; done < writes; done += batch) {
      const double start = ThreadCpuNs();
      CoordinatorPhase(&a, &b, &random, batch, value_bytes, &acked);
      const double written = ThreadCpuNs();
      ReplicaPhase(&a, &b);
      const double replicated = ThreadCpuNs();
      AckPhase(&a);
      coordinator_ns += (written - start) + (ThreadCpuNs() - replicated);
      replica_ns += replicated - written;
    }
  }
  const int measured = (writes + batch - 1) / batch * batch;
  printf("coordinator %.3f us/write, replica %.3f us/write (%d of %d acked at w=2)\n",
         coordinator_ns / measured / 1000, replica_ns / measured / 1000, acked, measured);
  std::filesystem::remove_all(dir);
  return acked == measured ? 0 : 1;
}
