// Scale-out: several etld processes in one consumer group, each with its own
// transactional.id and its own SQLite, share a 6-partition input. The tasks
// (one per keyspace and partition) follow the partitions from instance to
// instance through the changelog topics, the repartition topics keep every
// key on one task, and every instance materializes the whole output topic.
//
// The stream is the one the single-instance exactness tests use (duplicates
// across partitions, disorder, malformed and too-late records), the checks
// are the same reference-model comparisons, and timing again never decides
// the outcome: disorder stays far inside max_out_of_orderness, windows are
// closed by flush events sent once every stage is drained, and the too-late
// records only once every result is visible.
#include <signal.h>

#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <thread>

#include "broker.h"
#include "etld_process.h"
#include "result_check.h"
#include "scenario.h"
#include "storage/query.h"

namespace test = etld::test;
namespace pipeline = etld::pipeline;

namespace {

constexpr int kPartitions = 6;
// The input and the three repartition topics, 6 partitions each.
constexpr int kSubscribed = 4 * kPartitions;
constexpr auto kSessionTimeout = std::chrono::milliseconds(6000);

// One etld process of the group: its files and, while it runs, the process.
struct Instance {
    std::string id;
    std::string config;
    std::string db;
    std::string log;
    std::unique_ptr<test::EtldProcess> process;
    bool meant_to_run = false;

    bool running() const { return process && process->running(); }
    void start() {
        process = std::make_unique<test::EtldProcess>(config, log);
        meant_to_run = true;
    }
    void kill() {
        meant_to_run = false;
        process->kill_now();
    }
};

class Group {
  public:
    explicit Group(const test::Scenario& s) : s_(s) {}

    Instance& add(const std::string& id, test::InstanceSettings settings = {}) {
        auto instance = std::make_unique<Instance>();
        instance->id = id;
        instance->config = s_.dir.path + "/" + id + ".toml";
        instance->db = s_.dir.path + "/" + id + ".db";
        instance->log = s_.dir.path + "/" + id + ".log";
        // Each instance has a state directory of its own, as on its own host.
        settings.state_dir = s_.dir.path + "/" + id;
        std::filesystem::create_directories(settings.state_dir);
        settings.transactional_id = s_.name + "-txn-" + id;
        settings.sqlite_path = instance->db;
        test::write_config(s_, instance->config, settings);
        instance->start();
        instances_.push_back(std::move(instance));
        return *instances_.back();
    }

    std::vector<Instance*> all() {
        std::vector<Instance*> out;
        for (auto& i : instances_) {
            out.push_back(i.get());
        }
        return out;
    }

    std::vector<Instance*> running() {
        std::vector<Instance*> out;
        for (auto& i : instances_) {
            if (i->running()) {
                out.push_back(i.get());
            }
        }
        return out;
    }

    // True when the running instances' latest assignments cover every
    // subscribed partition, each instance owning some.
    bool balanced() {
        for (const auto& i : instances_) {
            BOOST_REQUIRE_MESSAGE(!i->meant_to_run || i->running(),
                                  i->id << " exited on its own;" << logs());
        }
        int total = 0;
        const auto members = running();
        for (const Instance* i : members) {
            const int n = test::last_assignment(i->log);
            if (n <= 0) {
                return false;
            }
            total += n;
        }
        return !members.empty() && total == kSubscribed;
    }

    void wait_balanced(const std::string& when) {
        const bool ok = test::wait_until([&] { return balanced(); }, std::chrono::minutes(2));
        BOOST_REQUIRE_MESSAGE(ok, "the group did not settle " << when << "; " << logs());
        std::ostringstream shares;
        for (const Instance* i : running()) {
            shares << " " << i->id << "=" << test::last_assignment(i->log);
        }
        BOOST_TEST_MESSAGE("partitions per instance " << when << ":" << shares.str());
    }

    // The tails of every instance's log, for failure messages.
    std::string logs() {
        std::string text;
        for (const Instance* i : all()) {
            text += "\n--- " + i->id + " ---\n" + test::tail(i->log);
        }
        return text;
    }

  private:
    const test::Scenario& s_;
    std::vector<std::unique_ptr<Instance>> instances_;
};

void produce_main(const test::Scenario& s, const test::Stream& stream, size_t chunk,
                  size_t chunks) {
    const size_t per_chunk = (stream.main.size() + chunks - 1) / chunks;
    const auto first =
        stream.main.begin() + static_cast<long>(std::min(chunk * per_chunk, stream.main.size()));
    const auto last = stream.main.begin() +
                      static_cast<long>(std::min((chunk + 1) * per_chunk, stream.main.size()));
    test::produce_records(s.input, {first, last});
}

// Everything after the main stream: wait until every stage is drained, send
// the flush, wait for every result, send the too-late records, wait for them
// and for every running instance's SQLite, then stop the instances.
void finish(const test::Scenario& s, Group& group, const test::Stream& stream,
            const test::Expected& expected, const pipeline::EngineSpec& spec) {
    for (const auto& topic : s.stages()) {
        const bool done = test::wait_until(
            [&] { return test::drained(s.group, topic, kPartitions); }, std::chrono::minutes(3));
        BOOST_REQUIRE_MESSAGE(done, topic << " was not drained;" << group.logs());
    }
    test::produce_records(s.input, stream.flush);
    const bool all_results =
        test::wait_until([&] { return test::count_records(s.output) >= expected.finals.size(); },
                         std::chrono::minutes(3));
    BOOST_REQUIRE_MESSAGE(all_results, "results did not appear: expected "
                                           << expected.finals.size() << ", output topic "
                                           << test::visible_records(s.output) << "\ncommitted/end "
                                           << test::progress(s.group, s.stages(), kPartitions)
                                           << group.logs());
    test::produce_records(s.input, stream.late);
    const bool all_late =
        test::wait_until([&] { return test::count_records(s.late) >= expected.late.size(); },
                         std::chrono::minutes(2));
    BOOST_CHECK_MESSAGE(all_late, "late records did not appear;" << group.logs());
    for (Instance* i : group.running()) {
        const bool caught_up = test::wait_until(
            [&] { return test::sqlite_rows(i->db, spec).size() >= expected.finals.size(); },
            std::chrono::minutes(1));
        BOOST_CHECK_MESSAGE(caught_up,
                            "the SQLite of " << i->id << " did not catch up;" << group.logs());
    }
    // Give a wrongly extra record the chance to show up before checking.
    std::this_thread::sleep_for(std::chrono::seconds(2));
    for (Instance* i : group.running()) {
        i->process->signal(SIGTERM);
    }
    for (Instance* i : group.all()) {
        if (i->meant_to_run) {
            const int status = i->process->wait(std::chrono::seconds(60));
            BOOST_CHECK_MESSAGE(status == 0, i->id << " exited with " << status);
        }
    }
}

// The output, late, dead-letter and repartition topics and every instance's
// SQLite against the model; and one SQL question asked of every instance.
void check_everything(const test::Scenario& s, Group& group, const test::Expected& expected,
                      const pipeline::EngineSpec& spec) {
    test::check_rows(test::topic_rows(test::read_all(s.output, "read_committed"), spec),
                     expected.finals, "output topic");
    BOOST_CHECK(test::labelled(test::read_all(s.dead, "read_committed"), "etld.reason") ==
                expected.dead);
    BOOST_CHECK(test::labelled(test::read_all(s.late, "read_committed"), "etld.pipeline") ==
                expected.late);
    test::check_source_headers(s, test::read_all(s.late, "read_committed"), "late topic");
    test::check_source_headers(s, test::read_all(s.dead, "read_committed"), "dead-letter topic");
    test::check_repartitioned_once(s, expected);

    const std::string question =
        "SELECT event_type, count(*) AS windows, sum(events) AS events, "
        "round(sum(revenue), 2) AS revenue FROM by_type GROUP BY event_type ORDER BY event_type";
    std::optional<etld::storage::QueryResult> first;
    for (const Instance* i : group.all()) {
        test::check_rows(test::sqlite_rows(i->db, spec), expected.finals, "SQLite of " + i->id);
        auto answer = etld::storage::run_read_only_query(i->db, question, std::chrono::seconds(5));
        BOOST_REQUIRE_MESSAGE(std::holds_alternative<etld::storage::QueryResult>(answer),
                              "the query failed on " << i->id);
        const auto& rows = std::get<etld::storage::QueryResult>(answer).rows;
        BOOST_CHECK_EQUAL(rows.size(), 4U);  // the four event types
        if (!first) {
            first = std::get<etld::storage::QueryResult>(answer);
        } else {
            BOOST_CHECK_MESSAGE(rows == first->rows,
                                i->id << " answers the same SQL query differently");
        }
    }
}

struct Prepared {
    test::Scenario s{"so", kPartitions};
    pipeline::EngineSpec spec = test::engine_spec();
    test::Stream stream;
    test::Expected expected;

    Prepared(std::uint64_t seed, int events) {
        stream = test::make_stream(seed, events, 40, kPartitions);
        expected = test::model_outcome(stream, spec);
        BOOST_TEST_MESSAGE("model: " << expected.finals.size() << " results, "
                                     << expected.dead.size() << " dead letters, "
                                     << expected.late.size() << " late records");
        BOOST_REQUIRE(!expected.finals.empty());
        BOOST_REQUIRE(!expected.dead.empty());
        BOOST_REQUIRE(!expected.late.empty());
        test::create_topic(s.input, kPartitions);
    }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(scale_out)

BOOST_AUTO_TEST_CASE(three_instances_share_the_work_survive_a_kill_and_a_join_and_stay_exact) {
    Prepared p(21, 2000);
    Group group(p.s);
    group.add("a");
    Instance& b = group.add("b");
    group.add("c");
    group.wait_balanced("with three instances");

    constexpr size_t kChunks = 12;
    std::mt19937_64 rng(21);
    for (size_t c = 0; c < kChunks; ++c) {
        produce_main(p.s, p.stream, c, kChunks);
        if (c == 3) {
            // b dies at a random moment while it works; its partitions move
            // to a and c once the broker gives up on its session.
            std::this_thread::sleep_for(
                std::chrono::milliseconds(std::uniform_int_distribution<int>(100, 1500)(rng)));
            b.kill();
            std::this_thread::sleep_for(kSessionTimeout);
            group.wait_balanced("after b was killed");
        }
        if (c == 7) {
            group.add("d");
            group.wait_balanced("after d joined");
        }
    }
    // systemd would restart b; it catches up from the changelog and the
    // output topic like any other member.
    b.start();
    group.wait_balanced("after b restarted");
    finish(p.s, group, p.stream, p.expected, p.spec);
    check_everything(p.s, group, p.expected, p.spec);
}

BOOST_AUTO_TEST_SUITE_END()

// The zombie: an instance that stops (SIGSTOP: a long GC pause, a frozen
// VM) past its session timeout while it holds an open transaction, and
// comes back after its partitions moved. Whatever it had in flight must
// never be committed. Its own suite so that CTest runs it beside the above.
BOOST_AUTO_TEST_SUITE(scale_out_zombie)

BOOST_AUTO_TEST_CASE(a_paused_instance_cannot_commit_after_its_partitions_moved) {
    Prepared p(22, 1500);
    Group group(p.s);
    // A long commit interval (with a transaction timeout above it) keeps a's
    // transaction open for most of the time it works, so that the pause
    // almost surely catches it with uncommitted output.
    test::InstanceSettings slow;
    slow.commit_interval = "60s";
    slow.max_batch_events = 1000000;
    slow.transaction_timeout_ms = 120000;
    const auto a_started = std::chrono::steady_clock::now();
    Instance& a = group.add("a", slow);
    Instance& b = group.add("b");
    group.wait_balanced("with two instances");

    constexpr size_t kChunks = 6;
    produce_main(p.s, p.stream, 0, kChunks);
    produce_main(p.s, p.stream, 1, kChunks);
    std::this_thread::sleep_for(std::chrono::seconds(2));
    a.process->signal(SIGSTOP);
    // a's first commit cycle ends 60 s after it subscribed: until then
    // everything it did is in one open transaction.
    const bool surely_open =
        std::chrono::steady_clock::now() - a_started < std::chrono::seconds(55);

    // The group gives a's partitions to b; b processes them (and more) and
    // commits its progress.
    produce_main(p.s, p.stream, 2, kChunks);
    produce_main(p.s, p.stream, 3, kChunks);
    const bool moved = test::wait_until([&] { return test::last_assignment(b.log) == kSubscribed; },
                                        std::chrono::minutes(2));
    BOOST_REQUIRE_MESSAGE(moved, "b never took over a's partitions;" << group.logs());
    const bool taken_over = test::wait_until(
        [&] { return test::drained(p.s.group, p.s.input, kPartitions); }, std::chrono::minutes(2));
    BOOST_REQUIRE_MESSAGE(taken_over, "b did not process the input;" << group.logs());

    // a wakes up with its old assignment and its open transaction.
    const size_t a_assignments = test::count_lines(a.log, "<6>assigned ");
    a.process->signal(SIGCONT);
    const bool noticed = test::wait_until(
        [&] {
            return !a.process->running() ||
                   test::count_lines(a.log, "<6>assigned ") > a_assignments;
        },
        std::chrono::minutes(2));
    BOOST_REQUIRE_MESSAGE(noticed, "a neither rejoined nor stopped;" << group.logs());
    // Refused at commit ("aborting the transaction: UNKNOWN_MEMBER_ID ...") or
    // aborted first because librdkafka reported the assignment lost.
    const size_t aborted = test::count_lines(a.log, "<4>aborting the transaction") +
                           test::count_lines(a.log, "<4>partitions lost");
    const size_t fenced = test::count_lines(a.log, "<3>fenced");
    BOOST_TEST_MESSAGE("after the pause a " << (a.process->running() ? "rejoined" : "stopped")
                                            << "; transactions aborted " << aborted << ", fenced "
                                            << fenced);
    if (surely_open) {
        // It held work in an open transaction: that transaction must have
        // been refused (the group generation it carries is gone) and
        // aborted, or a fenced for good.
        BOOST_CHECK_MESSAGE(aborted + fenced >= 1,
                            "a's open transaction was neither aborted nor fenced;" << group.logs());
    }
    if (!a.process->running()) {
        // The only acceptable reason to stop is being fenced; systemd
        // restarts it.
        BOOST_CHECK_MESSAGE(fenced == 1, "a stopped without being fenced;" << group.logs());
        a.start();
    }

    produce_main(p.s, p.stream, 4, kChunks);
    produce_main(p.s, p.stream, 5, kChunks);
    group.wait_balanced("after a came back");
    finish(p.s, group, p.stream, p.expected, p.spec);
    check_everything(p.s, group, p.expected, p.spec);
}

BOOST_AUTO_TEST_SUITE_END()

// The successor of a successor: an owner that died in the middle of a
// transaction leaves it open until the broker aborts it at its timeout, and
// until then everything the next owner commits to the same changelog
// partitions lies beyond their last stable offset, out of a read_committed
// reader's sight. An instance that takes the partitions over in that time
// must wait for that state instead of restoring what it can see. The dead
// owner is a producer of the test's own that leaves one record in an open
// transaction on every changelog partition.
BOOST_AUTO_TEST_SUITE(scale_out_handover)

BOOST_AUTO_TEST_CASE(a_takeover_waits_for_state_committed_behind_a_dead_owners_open_transaction) {
    Prepared p(23, 1500);
    Group group(p.s);
    Instance& a = group.add("a");
    group.wait_balanced("with one instance");
    auto hanging =
        test::leave_transaction_open(p.s.changelog_topics(), kPartitions, std::chrono::seconds(15));

    // a works on behind the open transaction: every changelog record it
    // commits from now on stays invisible until the broker aborts it.
    constexpr size_t kChunks = 4;
    produce_main(p.s, p.stream, 0, kChunks);
    produce_main(p.s, p.stream, 1, kChunks);
    for (const auto& topic : p.s.stages()) {
        const bool done = test::wait_until(
            [&] { return test::drained(p.s.group, topic, kPartitions); }, std::chrono::minutes(2));
        BOOST_REQUIRE_MESSAGE(done, topic << " was not drained;" << group.logs());
    }
    a.meant_to_run = false;
    a.process->signal(SIGTERM);
    BOOST_REQUIRE_EQUAL(a.process->wait(std::chrono::seconds(60)), 0);

    // b takes everything over while the transaction is still open.
    Instance& b = group.add("b");
    group.wait_balanced("after a handed over to b");
    BOOST_CHECK_MESSAGE(test::count_lines(b.log, "<4>restore of ") > 0,
                        "b did not wait for the state behind the open transaction (the test "
                        "missed its moment?);"
                            << group.logs());

    produce_main(p.s, p.stream, 2, kChunks);
    produce_main(p.s, p.stream, 3, kChunks);
    a.start();
    group.wait_balanced("after a came back");
    finish(p.s, group, p.stream, p.expected, p.spec);
    check_everything(p.s, group, p.expected, p.spec);
}

BOOST_AUTO_TEST_SUITE_END()
