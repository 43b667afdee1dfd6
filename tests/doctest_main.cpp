// The one doctest main shared by every test binary (build/tests/test_*).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
