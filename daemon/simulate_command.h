// `etld simulate`: publishes the e-commerce event simulator's records
// (simulator.h) to a Kafka topic, or writes them to a file, at a given rate
// for a count or a duration, then prints what it sent.
//
// The producer is idempotent with acks=all and every delivery report is
// checked: a record the broker did not acknowledge is counted and makes the
// exit status non-zero. Runs on the calling thread; librdkafka's callbacks
// are served by the polls this command makes, so nothing here is shared
// between threads.
//
// Exit status: 0 all records delivered (or written); 64 usage error;
// 69 broker unreachable, topic missing, or deliveries failed; 70 a fatal
// producer error or a client that cannot be created; 73 the output or
// summary file cannot be written.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace etld::daemon {

// `args` are the words after "simulate". The summary goes to `out` (to `err`
// when the records themselves go to standard output); progress and errors
// go to `err`.
int simulate_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace etld::daemon
