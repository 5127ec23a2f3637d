// `etld simulate` against a real broker: every record the summary calls sent
// is in the topic, keyed records of one user share a partition (the one a
// Java producer would pick), and duplicates sent to another partition are
// where the summary says.
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "broker.h"
#include "daemon/simulate_command.h"
#include "daemon/simulator.h"

using etld::test::bootstrap_servers;
using etld::test::unique_name;

namespace {

struct Run {
    int code = 0;
    std::string out;
    std::string err;
};

Run run_simulate(const std::vector<std::string>& args) {
    std::ostringstream out;
    std::ostringstream err;
    Run run;
    run.code = etld::daemon::simulate_command(args, out, err);
    run.out = out.str();
    run.err = err.str();
    return run;
}

// The integer after "name": in the summary JSON, which writes one field per line.
std::uint64_t summary_number(const std::string& json, const std::string& name) {
    const std::string marker = "\"" + name + "\": ";
    const std::size_t at = json.find(marker);
    BOOST_REQUIRE_MESSAGE(at != std::string::npos, "no " << name << " in summary:\n" << json);
    return std::stoull(json.substr(at + marker.size()));
}

std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(simulate)

BOOST_AUTO_TEST_CASE(every_sent_record_is_in_the_topic_with_user_keys_on_one_partition) {
    const std::string topic = unique_name("etld-simulate");
    constexpr int kPartitions = 3;
    etld::test::create_topic(topic, kPartitions);
    const auto summary_path = std::filesystem::temp_directory_path() /
                              ("etld-simulate-" + std::to_string(::getpid()) + ".json");

    const Run run = run_simulate({"--bootstrap",
                                  bootstrap_servers(),
                                  "--topic",
                                  topic,
                                  "--count",
                                  "2000",
                                  "--seed",
                                  "11",
                                  "--event-time-start",
                                  "2026-11-25T10:30:00Z",
                                  "--event-time-step",
                                  "250ms",
                                  "--disorder",
                                  "5s",
                                  "--duplicate-rate",
                                  "0.05",
                                  "--duplicate-other-partition",
                                  "0.5",
                                  "--late-rate",
                                  "0.01",
                                  "--malformed-rate",
                                  "0.02",
                                  "--key",
                                  "user_id",
                                  "--summary-json",
                                  summary_path.string()});
    BOOST_TEST_MESSAGE(run.out);
    BOOST_REQUIRE_MESSAGE(run.code == 0, "exit " << run.code << ": " << run.err);
    const std::string summary = slurp(summary_path);
    std::filesystem::remove(summary_path);
    const std::uint64_t sent = summary_number(summary, "sent");
    const std::uint64_t duplicates = summary_number(summary, "duplicates");
    const std::uint64_t elsewhere = summary_number(summary, "duplicates_other_partition");
    BOOST_TEST(sent == 2000U);
    BOOST_TEST(summary_number(summary, "delivery_failures") == 0U);
    BOOST_TEST(duplicates > 0U);
    BOOST_TEST(elsewhere > 0U);

    const auto records = etld::test::read_all(topic, "read_committed");
    BOOST_TEST(records.size() == sent);

    // Every record carrying its event id identifies one event; the same bytes
    // more than once are an original and its duplicates.
    std::map<std::string, std::vector<int>> copies;  // value -> partitions
    std::map<std::string, std::set<int>> user_partitions;
    for (const auto& r : records) {
        BOOST_REQUIRE(r.key.rfind("user_", 0) == 0);
        if (r.value.find("\"event_id\":\"") != std::string::npos && r.value.back() == '}') {
            copies[r.value].push_back(r.partition);
        } else {
            // A malformed record still carries its user's key.
            user_partitions[r.key].insert(r.partition);
        }
    }
    std::map<std::string, std::string> key_of;
    for (const auto& r : records) {
        key_of[r.value] = r.key;
    }
    std::uint64_t repeated = 0;
    std::uint64_t away = 0;
    for (const auto& [value, partitions] : copies) {
        const std::string& key = key_of[value];
        const int home = etld::daemon::murmur2_partition(key, kPartitions);
        repeated += partitions.size() - 1;
        bool at_home = false;
        for (int p : partitions) {
            at_home = at_home || p == home;
            away += p != home ? 1 : 0;
        }
        BOOST_TEST(at_home, "no copy of an event of " << key << " on its home partition");
        if (partitions.size() == 1) {
            user_partitions[key].insert(partitions.front());
        }
    }
    for (const auto& [user, partitions] : user_partitions) {
        BOOST_TEST(partitions.size() == 1U, user << " spread over " << partitions.size());
        BOOST_TEST(*partitions.begin() == etld::daemon::murmur2_partition(user, kPartitions));
    }
    BOOST_TEST(repeated == duplicates);
    BOOST_TEST(away == elsewhere);
}

BOOST_AUTO_TEST_CASE(a_missing_topic_is_an_unavailable_service) {
    const Run run = run_simulate({"--bootstrap", bootstrap_servers(), "--topic",
                                  unique_name("etld-simulate-absent"), "--count", "10"});
    BOOST_TEST(run.code == 69);
    BOOST_TEST(run.err.find("does not exist") != std::string::npos, run.err);
}

BOOST_AUTO_TEST_SUITE_END()
