#define BOOST_TEST_MODULE linalg
#include "testing.hpp"
