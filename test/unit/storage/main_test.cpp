#define BOOST_TEST_MODULE etld storage unit tests
#include <boost/test/unit_test.hpp>
