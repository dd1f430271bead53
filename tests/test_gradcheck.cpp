#define BOOST_TEST_MODULE gradcheck
#include <boost/test/unit_test.hpp>
BOOST_AUTO_TEST_CASE(placeholder) {}
