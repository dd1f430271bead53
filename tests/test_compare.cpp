#define BOOST_TEST_MODULE compare
#include "testing.hpp"
