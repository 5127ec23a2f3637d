#define BOOST_TEST_MODULE etld integration tests
#include <boost/test/unit_test.hpp>
