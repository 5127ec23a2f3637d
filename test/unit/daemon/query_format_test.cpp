// How `etld query` prints results: exact expected text for each format.
#include <boost/test/unit_test.hpp>

#include <sstream>

#include "daemon/query_command.h"

namespace {

etld::storage::QueryResult sample() {
    etld::storage::QueryResult r;
    r.columns = {"product", "revenue", "note"};
    r.rows.push_back({std::string("laptop"), 2500.5, std::monostate{}});
    r.rows.push_back({std::string("mouse"), int64_t{30}, std::string("a,\"b\"")});
    return r;
}

std::string print(etld::daemon::QueryFormat format) {
    std::ostringstream out;
    etld::daemon::print_query_result(sample(), format, out);
    return out.str();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(query_format)

BOOST_AUTO_TEST_CASE(csv_quotes_fields_with_commas_and_quotes) {
    BOOST_TEST(print(etld::daemon::QueryFormat::csv) ==
               "product,revenue,note\r\nlaptop,2500.5,\r\nmouse,30,\"a,\"\"b\"\"\"\r\n");
}

BOOST_AUTO_TEST_CASE(json_is_an_array_of_objects_with_nulls) {
    BOOST_TEST(print(etld::daemon::QueryFormat::json) ==
               "[\n {\"product\": \"laptop\", \"revenue\": 2500.5, \"note\": null},\n"
               " {\"product\": \"mouse\", \"revenue\": 30, \"note\": \"a,\\\"b\\\"\"}\n]\n");
}

BOOST_AUTO_TEST_CASE(table_aligns_columns_and_right_aligns_numbers) {
    BOOST_TEST(print(etld::daemon::QueryFormat::table) ==
               "product | revenue | note\n"
               "--------+---------+------\n"
               "laptop  |  2500.5 | NULL\n"
               "mouse   |      30 | a,\"b\"\n"
               "(2 rows)\n");
}

BOOST_AUTO_TEST_SUITE_END()
