// The weight-ladder measurements of `airt bench` (--quality, --switch), kept apart from
// the speed benchmark so either can change without the other.
#pragma once

namespace airt::cli {

// Whether the bench command line asks for a ladder measurement.
bool bench_ladder_wanted(int argc, char** argv);
// `airt bench -m MODEL --ladder ... --quality | --switch`; returns the exit status.
int bench_ladder_main(int argc, char** argv);

}  // namespace airt::cli
