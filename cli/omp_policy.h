// How OpenMP threads wait, chosen for idle and shared machines alike (docs/PERFORMANCE.md, "Contended cores"):
// train and infer call default_omp_wait_policy first thing in main(). Where the user set neither OMP_WAIT_POLICY nor
// GOMP_SPINCOUNT, it sets the measured default and re-executes the program, because libgomp reads its
// environment once, when the library is loaded (before main, before any constructor of ours), and offers no
// call to change the wait policy afterwards. The user's variables always win; BEOP_OMP_DEFAULTS=0 turns it off.
#pragma once

namespace beop::cli {

// The value set when the user chose nothing: spin this many iterations at a barrier, then sleep.
// Measured against libgomp's default (300,000: a spinning thread burns the time slice its descheduled partner
// needs, and decode collapsed on a loaded box) and OMP_WAIT_POLICY=passive (no spin: every one of decode's hundreds
// of parallel regions per token pays a futex wake-up, 1.5-10x slower decode on an idle machine); 10,000 was as fast
// as the default when idle and the fastest of the settings with two busy loops competing (docs/PERFORMANCE.md,
// "Contended cores").
inline constexpr const char* kDefaultSpinCount = "10000";

// Returns when nothing needs to change (or when the re-exec fails: then the run goes on with libgomp's default).
void default_omp_wait_policy(char** argv);

}  // namespace beop::cli
