#include <boost/test/unit_test.hpp>

#include <chrono>
#include <string>
#include <vector>

#include "conf/config.h"
#include "conf/load.h"
#include "conf/reload.h"
#include "test/unit/conf/conf_test_util.h"

using namespace etld::conf;
using namespace std::chrono_literals;
using Names = std::vector<std::string>;

namespace {

Config reference() {
    return load_config_file(ETLD_REFERENCE_CONFIG).config();
}

PipelineConfig& pipeline(Config& c, const std::string& name) {
    for (PipelineConfig& p : c.pipelines) {
        if (p.name.value == name) {
            return p;
        }
    }
    throw std::runtime_error("no pipeline " + name);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(reload_planning)

BOOST_AUTO_TEST_CASE(an_unchanged_config_plans_nothing) {
    const ReloadPlan plan = plan_reload(reference(), reference());
    BOOST_TEST(plan.empty());
    BOOST_TEST(!plan.needs_restart());
}

BOOST_AUTO_TEST_CASE(moving_text_around_in_the_file_is_not_a_change) {
    const Config a = test::must_load(test::kMinimal);
    const Config b = test::must_load("# a comment\n\n" + std::string(test::kMinimal));
    BOOST_TEST(plan_reload(a, b).empty());
}

BOOST_AUTO_TEST_CASE(live_keys_apply_without_a_restart) {
    const Config a = reference();
    Config b = a;
    b.service.log_level = LogLevel::debug;
    b.kafka.commit_interval = 1s;
    b.kafka.max_batch_events = 5;
    b.http.enabled = false;
    pipeline(b, "user_sessions").late_policy = LatePolicy::drop;
    const ReloadPlan plan = plan_reload(a, b);
    BOOST_TEST(!plan.needs_restart());
    BOOST_TEST(
        plan.live == (Names{"service.log_level", "kafka.commit_interval", "kafka.max_batch_events",
                            "http.enabled", "pipeline.user_sessions.late_policy"}),
        boost::test_tools::per_element());
    BOOST_TEST(plan.changed_pipelines.empty());
}

BOOST_AUTO_TEST_CASE(pipeline_changes_name_exactly_the_pipelines_to_restart_with_fresh_state) {
    const Config a = reference();
    Config b = a;
    pipeline(b, "events_by_type").window.size = 5min;
    pipeline(b, "product_metrics").aggregates.pop_back();
    b.pipelines.erase(b.pipelines.begin() + 2);  // user_sessions
    PipelineConfig extra = a.pipelines[0];
    extra.name.value = "hourly";
    extra.window.size = 1h;
    b.pipelines.push_back(extra);

    const ReloadPlan plan = plan_reload(a, b);
    BOOST_TEST(!plan.needs_restart());
    BOOST_TEST(plan.changed_pipelines == (Names{"events_by_type", "product_metrics"}),
               boost::test_tools::per_element());
    BOOST_TEST(plan.removed_pipelines == Names{"user_sessions"}, boost::test_tools::per_element());
    BOOST_TEST(plan.added_pipelines == Names{"hourly"}, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(everything_else_needs_a_restart) {
    const Config a = reference();
    Config b = a;
    b.kafka.group_id = "other";
    b.kafka.consumer["fetch.min.bytes"] = "10";
    b.schema.fields.pop_back();
    b.http.listen = "127.0.0.1:1";
    b.topics.partitions = 6;
    const ReloadPlan plan = plan_reload(a, b);
    BOOST_TEST(plan.needs_restart());
    BOOST_TEST(plan.restart_required == (Names{"kafka.group_id", "kafka.consumer", "schema.fields",
                                               "topics.partitions", "http.listen"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_SUITE_END()
