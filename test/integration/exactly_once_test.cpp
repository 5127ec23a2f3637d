// Exactly-once, end to end: the real etld binary against a real broker, on a
// stream with duplicates (also on other partitions), disorder, malformed and
// too-late records, over a 3-partition input not keyed by any group-by key.
// The output topic, the late and dead-letter topics and the SQLite tables
// must equal what the brute-force reference model computes from the same
// records: nothing missing, nothing twice, nothing extra — also when etld is
// killed with SIGKILL again and again while it works.
//
// Timing never decides the outcome: the input's disorder stays far inside
// max_out_of_orderness (so no event of the main stream is late whatever the
// partitions' interleaving), windows are closed by flush events a day later,
// and the deliberately too-late events are sent only once every expected
// result is visible.
#include <signal.h>

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "broker.h"
#include "etld_process.h"
#include "result_check.h"
#include "scenario.h"

namespace test = etld::test;
namespace pipeline = etld::pipeline;

namespace {

using test::check_rows;
using test::count_lines;
using test::count_records;
using test::engine_spec;
using test::Expected;
using test::Scenario;
using test::sqlite_rows;
using test::tail;

// The whole scenario; `kills` SIGKILLs while the main stream is processed.
// `refused_records`: the dead-letter topic takes no record
// (max.message.bytes too small) until the test lifts the limit, so every
// transaction with a dead letter fails, is aborted and rewound, again and
// again.
enum class Disruption { none, kills, fencing, broker_restart, refused_records };

// A broker of the test's own, for tests that stop it; the shared one stays
// up. Its address replaces ETLD_TEST_BOOTSTRAP for the test's duration.
struct OwnBroker {
    test::TempDir dir;
    std::string previous;
    OwnBroker() {
        if (const char* b = std::getenv("ETLD_TEST_BOOTSTRAP")) {
            previous = b;
        }
        run("start " + dir.path);
        std::ifstream in(dir.path + "/bootstrap");
        std::string address;
        in >> address;
        ::setenv("ETLD_TEST_BOOTSTRAP", address.c_str(), 1);
    }
    ~OwnBroker() {
        run("stop " + dir.path + " --kill");
        if (previous.empty()) {
            ::unsetenv("ETLD_TEST_BOOTSTRAP");
        } else {
            ::setenv("ETLD_TEST_BOOTSTRAP", previous.c_str(), 1);
        }
    }
    static void run(const std::string& args) {
        const std::string command =
            std::string(ETLD_SOURCE_DIR) + "/test/kafka/" + args + " > /dev/null";
        BOOST_REQUIRE_EQUAL(std::system(command.c_str()), 0);
    }
    void restart(std::chrono::milliseconds outage) {
        run("stop " + dir.path);
        std::this_thread::sleep_for(outage);
        run("start " + dir.path + " --keep-data");
    }
};

void run_scenario(std::uint64_t seed, int events, Disruption disruption) {
    const int kills = disruption == Disruption::kills ? 10 : 0;
    std::unique_ptr<OwnBroker> own_broker;
    if (disruption == Disruption::broker_restart) {
        own_broker = std::make_unique<OwnBroker>();
    }
    Scenario s;
    const pipeline::EngineSpec spec = engine_spec();
    const test::Stream stream = test::make_stream(seed, events, 40);
    const Expected expected = test::model_outcome(stream, spec);
    BOOST_TEST_MESSAGE("model: " << expected.finals.size() << " results, " << expected.dead.size()
                                 << " dead letters, " << expected.late.size() << " late records");
    BOOST_REQUIRE(!expected.finals.empty());
    BOOST_REQUIRE(!expected.dead.empty());
    BOOST_REQUIRE(!expected.late.empty());

    test::create_topic(s.input, 3);
    if (disruption == Disruption::refused_records) {
        test::create_topic(s.dead, 3, {{"max.message.bytes", "100"}});
    }
    test::write_config(s);
    auto etld = std::make_unique<test::EtldProcess>(s.config, s.log);

    std::mt19937_64 rng(seed);
    const size_t chunks = static_cast<size_t>(std::max(2, kills) * 3);
    const size_t per_chunk = (stream.main.size() + chunks - 1) / chunks;
    int killed = 0;
    size_t assignments_seen = 0;
    for (size_t c = 0; c < chunks; ++c) {
        const auto first =
            stream.main.begin() + static_cast<long>(std::min(c * per_chunk, stream.main.size()));
        const auto last = stream.main.begin() +
                          static_cast<long>(std::min((c + 1) * per_chunk, stream.main.size()));
        test::produce_records(s.input, {first, last});
        if (killed < kills && c % 3 == 1) {
            // Kill it while it works: after it has been assigned partitions
            // (and so restored its state), at a random moment.
            const bool assigned = test::wait_until(
                [&] { return count_lines(s.log, "<6>assigned ") > assignments_seen; },
                std::chrono::minutes(1));
            BOOST_REQUIRE_MESSAGE(assigned, "etld was never assigned partitions; log:\n"
                                                << tail(s.log));
            assignments_seen = count_lines(s.log, "<6>assigned ");
            std::this_thread::sleep_for(
                std::chrono::milliseconds(std::uniform_int_distribution<int>(50, 1500)(rng)));
            etld->kill_now();
            ++killed;
            etld = std::make_unique<test::EtldProcess>(s.config, s.log);
        }
        if (disruption == Disruption::fencing && c == 1) {
            // A second instance with the same transactional.id fences the
            // first, which must stop on its own, non-zero, without committing.
            BOOST_REQUIRE(test::wait_until([&] { return count_lines(s.log, "<6>assigned ") > 0; },
                                           std::chrono::minutes(1)));
            // Its own state directory (etld refuses a second instance on one:
            // the control socket lives there), the same transactional.id and
            // result database.
            test::InstanceSettings same_id;
            same_id.transactional_id = s.name + "-txn";
            same_id.sqlite_path = s.db;
            same_id.state_dir = s.dir.path + "/second";
            const std::string second_config = s.dir.path + "/second.toml";
            test::write_config(s, second_config, same_id);
            auto second =
                std::make_unique<test::EtldProcess>(second_config, s.dir.path + "/second.log");
            const int status = etld->wait(std::chrono::minutes(2));
            BOOST_CHECK_MESSAGE(status != 0 && status != -1,
                                "the fenced instance exited with " << status);
            BOOST_CHECK_MESSAGE(count_lines(s.log, "<3>fenced: another instance") == 1,
                                "no fencing line in the first instance's log:\n"
                                    << tail(s.log));
            etld = std::move(second);
            s.log = s.dir.path + "/second.log";
        }
        if (disruption == Disruption::refused_records && c == 2) {
            // Each commit that carries a dead letter fails at the broker.
            // Records produced while such a commit is in flight (held for
            // the next transaction) must be dropped with it.
            const bool aborting = test::wait_until(
                [&] { return count_lines(s.log, "<4>aborting the transaction: ") >= 3; },
                std::chrono::minutes(2));
            BOOST_REQUIRE_MESSAGE(aborting, "no aborted transactions; log:\n" << tail(s.log));
            test::set_topic_configs(s.dead, {});
        }
        if (disruption == Disruption::broker_restart && c == 2) {
            own_broker->restart(std::chrono::seconds(3));
        }
    }
    BOOST_REQUIRE_EQUAL(killed, kills);

    // The flush closes every window; it must come after every main-stream
    // event reached its task, or a task could see it first and call the rest
    // too late. So wait until the input and then each repartition topic are
    // consumed and committed.
    for (const auto& topic : s.stages()) {
        const bool done = test::wait_until([&] { return test::drained(s.group, topic, 3); },
                                           std::chrono::minutes(3));
        BOOST_REQUIRE_MESSAGE(done, topic << " was not drained; etld log:\n" << tail(s.log));
    }
    test::produce_records(s.input, stream.flush);

    // Every expected result visible, then the too-late records.
    const bool all_results = test::wait_until(
        [&] { return count_records(s.output) >= expected.finals.size(); }, std::chrono::minutes(4));
    BOOST_REQUIRE_MESSAGE(all_results, "results did not appear: expected "
                                           << expected.finals.size() << ", output topic "
                                           << test::visible_records(s.output) << "\ncommitted/end "
                                           << test::progress(s.group, s.stages(), 3)
                                           << "etld log:\n"
                                           << tail(s.log));
    test::produce_records(s.input, stream.late);
    const bool all_late = test::wait_until(
        [&] { return count_records(s.late) >= expected.late.size(); }, std::chrono::minutes(2));
    BOOST_CHECK_MESSAGE(all_late, "late records did not appear; etld log:\n" << tail(s.log));
    const bool materialized =
        test::wait_until([&] { return sqlite_rows(s.db, spec).size() >= expected.finals.size(); },
                         std::chrono::minutes(1));
    BOOST_CHECK_MESSAGE(materialized, "SQLite did not catch up; etld log:\n" << tail(s.log));
    // Give a wrongly extra record the chance to show up before checking.
    std::this_thread::sleep_for(std::chrono::seconds(2));

    etld->signal(SIGTERM);
    BOOST_CHECK_EQUAL(etld->wait(std::chrono::seconds(60)), 0);

    check_rows(test::topic_rows(test::read_all(s.output, "read_committed"), spec), expected.finals,
               "output topic");
    check_rows(sqlite_rows(s.db, spec), expected.finals, "SQLite");

    const test::Labelled dead =
        test::labelled(test::read_all(s.dead, "read_committed"), "etld.reason");
    const test::Labelled late =
        test::labelled(test::read_all(s.late, "read_committed"), "etld.pipeline");
    BOOST_CHECK_MESSAGE(dead == expected.dead,
                        "dead letters: " << dead.size() << ", expected " << expected.dead.size());
    BOOST_CHECK_MESSAGE(late == expected.late,
                        "late records: " << late.size() << ", expected " << expected.late.size());
    test::check_source_headers(s, test::read_all(s.late, "read_committed"), "late topic");
    test::check_source_headers(s, test::read_all(s.dead, "read_committed"), "dead-letter topic");
    test::check_repartitioned_once(s, expected);

    // SQLite is never the source of truth: delete it and it comes back.
    std::filesystem::remove(s.db);
    std::filesystem::remove(s.db + "-wal");
    std::filesystem::remove(s.db + "-shm");
    etld = std::make_unique<test::EtldProcess>(s.config, s.log);
    const bool rebuilt =
        test::wait_until([&] { return sqlite_rows(s.db, spec).size() >= expected.finals.size(); },
                         std::chrono::minutes(2));
    BOOST_CHECK_MESSAGE(rebuilt, "SQLite was not rebuilt; etld log:\n" << tail(s.log));
    etld->signal(SIGTERM);
    BOOST_CHECK_EQUAL(etld->wait(std::chrono::seconds(60)), 0);
    check_rows(sqlite_rows(s.db, spec), expected.finals, "rebuilt SQLite");
}

}  // namespace

BOOST_AUTO_TEST_SUITE(exactly_once)

BOOST_AUTO_TEST_CASE(output_late_and_dead_letter_topics_and_sqlite_equal_the_reference_model) {
    run_scenario(11, 3000, Disruption::none);
}

BOOST_AUTO_TEST_CASE(results_stay_exact_when_etld_is_killed_ten_times_mid_stream) {
    run_scenario(12, 3000, Disruption::kills);
}

BOOST_AUTO_TEST_SUITE_END()

// Fencing and a broker restart: separate from the suite above so CTest can
// run them side by side.
BOOST_AUTO_TEST_SUITE(disruptions)

BOOST_AUTO_TEST_CASE(a_second_instance_with_the_same_transactional_id_fences_the_first) {
    run_scenario(13, 2000, Disruption::fencing);
}

BOOST_AUTO_TEST_CASE(etld_recovers_on_its_own_from_a_broker_restart_and_stays_exact) {
    run_scenario(14, 2000, Disruption::broker_restart);
}

BOOST_AUTO_TEST_CASE(records_the_broker_refuses_abort_and_rewind_until_accepted_and_stay_exact) {
    run_scenario(15, 2000, Disruption::refused_records);
}

BOOST_AUTO_TEST_SUITE_END()

// Start-up checks of the topics etld relies on: a wrong internal topic is a
// clear error at start, never silent misbehaviour later.
BOOST_AUTO_TEST_SUITE(etld_startup)

namespace {

// Runs etld on `s` until it exits; returns its status and checks that the
// log names the problem.
void expect_start_error(Scenario& s, const std::string& message) {
    test::write_config(s);
    test::EtldProcess etld(s.config, s.log);
    const int status = etld.wait(std::chrono::minutes(2));
    BOOST_CHECK_MESSAGE(status == 1, "etld exited with " << status << "; log:\n" << tail(s.log));
    std::ifstream in(s.log);
    std::stringstream all;
    all << in.rdbuf();
    BOOST_CHECK_MESSAGE(all.str().find(message) != std::string::npos, "the log does not say '"
                                                                          << message << "':\n"
                                                                          << tail(s.log));
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_missing_input_topic_stops_etld_at_start_naming_it) {
    Scenario s;
    expect_start_error(s, "input topic '" + s.input + "' does not exist");
}

BOOST_AUTO_TEST_CASE(a_changelog_topic_with_the_wrong_partition_count_stops_etld_at_start) {
    Scenario s;
    test::create_topic(s.input, 3);
    const std::string changelog = s.name + "-" + s.name + "-group-changelog-event_type";
    test::create_topic(changelog, 1, {{"cleanup.policy", "compact"}});
    expect_start_error(s, "topic '" + changelog + "' has 1 partitions but etld needs 3");
}

BOOST_AUTO_TEST_CASE(a_changelog_topic_that_is_not_compacted_stops_etld_at_start) {
    Scenario s;
    test::create_topic(s.input, 3);
    const std::string changelog = s.name + "-" + s.name + "-group-changelog-user_id";
    test::create_topic(changelog, 3, {{"cleanup.policy", "delete"}});
    expect_start_error(
        s, "changelog topic '" + changelog + "' has cleanup.policy=delete; it must be compact");
}

BOOST_AUTO_TEST_SUITE_END()
