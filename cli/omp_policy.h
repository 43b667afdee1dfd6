// How OpenMP threads wait, chosen for shared machines (docs/PERFORMANCE.md, "Contended cores"): train and infer
// call default_omp_wait_policy first thing in main(). Where the user set neither OMP_WAIT_POLICY nor
// GOMP_SPINCOUNT, it sets the measured default and re-executes the program, because libgomp reads its
// environment once, when the library is loaded (before main, before any constructor of ours), and offers no
// call to change the wait policy afterwards. The user's variables always win; BEOP_OMP_DEFAULTS=0 turns it off.
#pragma once

namespace beop::cli {

// The value set when the user chose nothing (an OMP_WAIT_POLICY value).
inline constexpr const char* kDefaultWaitPolicy = "passive";

// Returns when nothing needs to change (or when the re-exec fails: then the run goes on with libgomp's default).
void default_omp_wait_policy(char** argv);

}  // namespace beop::cli
