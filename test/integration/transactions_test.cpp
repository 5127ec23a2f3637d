// Proves the broker harness and librdkafka's transactions against a real
// Apache Kafka broker: what read_committed readers see, and that offsets sent
// inside a transaction become the group's committed offsets only on commit.
#include "broker.h"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <array>
#include <map>
#include <set>
#include <string>

namespace kafka = etld::pipeline::kafka;
using etld::test::bootstrap_servers;
using etld::test::unique_name;

namespace {

constexpr auto kTimeoutMs = 30000;

void check(std::optional<kafka::KafkaError> error, const char* what) {
    BOOST_REQUIRE_MESSAGE(!error, what << ": " << (error ? error->describe() : ""));
}

kafka::KafkaPtr transactional_producer() {
    return kafka::make_producer({{"bootstrap.servers", bootstrap_servers()},
                                 {"transactional.id", unique_name("etld-test-txn")},
                                 {"enable.idempotence", "true"},
                                 {"acks", "all"}});
}

void produce(rd_kafka_t* producer, const std::string& topic, int partition,
             const std::string& value) {
    std::array<rd_kafka_vu_t, 4> vus{};
    vus[0].vtype = RD_KAFKA_VTYPE_TOPIC;
    vus[0].u.cstr = topic.c_str();
    vus[1].vtype = RD_KAFKA_VTYPE_PARTITION;
    vus[1].u.i32 = partition;
    vus[2].vtype = RD_KAFKA_VTYPE_VALUE;
    vus[2].u.mem.ptr = const_cast<char*>(value.data());
    vus[2].u.mem.size = value.size();
    vus[3].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    vus[3].u.i32 = RD_KAFKA_MSG_F_COPY;
    auto error = kafka::KafkaError::from(rd_kafka_produceva(producer, vus.data(), vus.size()));
    BOOST_REQUIRE_MESSAGE(!error, "produce: " << (error ? error->describe() : ""));
}

// Map values in key order, so Boost.Test can compare and print them.
std::vector<int64_t> by_partition(const std::map<int, int64_t>& offsets) {
    std::vector<int64_t> out;
    for (const auto& [partition, offset] : offsets) {
        out.push_back(offset);
    }
    return out;
}

std::multiset<std::string> values_of(const std::vector<etld::test::ConsumedRecord>& records) {
    std::multiset<std::string> out;
    for (const auto& r : records) {
        out.insert(r.value);
    }
    return out;
}

// Committed offsets of `group` for partitions 0..n-1 of `topic`, asked by a
// fresh consumer so nothing cached in the test's own consumer can answer.
std::map<int, int64_t> committed_offsets(const std::string& group, const std::string& topic,
                                         int partitions) {
    kafka::KafkaPtr consumer = kafka::make_consumer({{"bootstrap.servers", bootstrap_servers()},
                                                     {"group.id", group},
                                                     {"enable.auto.commit", "false"}});
    kafka::PartitionListPtr list(rd_kafka_topic_partition_list_new(partitions));
    for (int p = 0; p < partitions; ++p) {
        rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p);
    }
    const auto err = rd_kafka_committed(consumer.get(), list.get(), kTimeoutMs);
    BOOST_REQUIRE_MESSAGE(err == RD_KAFKA_RESP_ERR_NO_ERROR,
                          "committed(): " << rd_kafka_err2str(err));
    std::map<int, int64_t> out;
    for (int i = 0; i < list->cnt; ++i) {
        out[list->elems[i].partition] = list->elems[i].offset;
    }
    rd_kafka_consumer_close(consumer.get());
    return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(kafka_transactions)

BOOST_AUTO_TEST_CASE(read_committed_readers_see_committed_transactions_and_never_aborted_ones) {
    const std::string topic = unique_name("etld-it-txn");
    etld::test::create_topic(topic, 3);
    kafka::KafkaPtr producer = transactional_producer();
    check(kafka::KafkaError::from(rd_kafka_init_transactions(producer.get(), kTimeoutMs)),
          "init_transactions");

    std::multiset<std::string> committed;
    std::multiset<std::string> aborted;

    check(kafka::KafkaError::from(rd_kafka_begin_transaction(producer.get())), "begin");
    for (int i = 0; i < 9; ++i) {
        produce(producer.get(), topic, i % 3, "committed-" + std::to_string(i));
        committed.insert("committed-" + std::to_string(i));
    }
    check(kafka::KafkaError::from(rd_kafka_commit_transaction(producer.get(), kTimeoutMs)),
          "commit");

    check(kafka::KafkaError::from(rd_kafka_begin_transaction(producer.get())), "begin");
    for (int i = 0; i < 9; ++i) {
        produce(producer.get(), topic, i % 3, "aborted-" + std::to_string(i));
        aborted.insert("aborted-" + std::to_string(i));
    }
    // Make sure the aborted records really reached the log before aborting.
    BOOST_REQUIRE_EQUAL(rd_kafka_flush(producer.get(), kTimeoutMs), RD_KAFKA_RESP_ERR_NO_ERROR);
    check(kafka::KafkaError::from(rd_kafka_abort_transaction(producer.get(), kTimeoutMs)), "abort");

    check(kafka::KafkaError::from(rd_kafka_begin_transaction(producer.get())), "begin");
    for (int i = 0; i < 3; ++i) {
        produce(producer.get(), topic, i, "after-abort-" + std::to_string(i));
        committed.insert("after-abort-" + std::to_string(i));
    }
    check(kafka::KafkaError::from(rd_kafka_commit_transaction(producer.get(), kTimeoutMs)),
          "commit");

    const auto seen_committed = values_of(etld::test::read_all(topic, "read_committed"));
    BOOST_TEST(seen_committed == committed, boost::test_tools::per_element());

    // The aborted records are in the log: a read_uncommitted reader sees them.
    std::multiset<std::string> everything = committed;
    everything.insert(aborted.begin(), aborted.end());
    const auto seen_uncommitted = values_of(etld::test::read_all(topic, "read_uncommitted"));
    BOOST_TEST(seen_uncommitted == everything, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(offsets_sent_to_a_transaction_become_the_group_offsets_only_on_commit) {
    constexpr int kPartitions = 3;
    const std::string input = unique_name("etld-it-in");
    const std::string output = unique_name("etld-it-out");
    const std::string group = unique_name("etld-it-group");
    etld::test::create_topic(input, kPartitions);
    etld::test::create_topic(output, kPartitions);

    kafka::KafkaPtr plain = kafka::make_producer(
        {{"bootstrap.servers", bootstrap_servers()}, {"enable.idempotence", "true"}});
    std::map<int, int64_t> produced;
    auto produce_batch = [&](int count, const std::string& prefix) {
        for (int i = 0; i < count; ++i) {
            const int p = (i * 7) % kPartitions;
            produce(plain.get(), input, p, prefix + std::to_string(i));
            ++produced[p];
        }
        BOOST_REQUIRE_EQUAL(rd_kafka_flush(plain.get(), kTimeoutMs), RD_KAFKA_RESP_ERR_NO_ERROR);
    };
    produce_batch(30, "first-");

    kafka::KafkaPtr consumer = kafka::make_consumer({{"bootstrap.servers", bootstrap_servers()},
                                                     {"group.id", group},
                                                     {"enable.auto.commit", "false"},
                                                     {"auto.offset.reset", "earliest"},
                                                     {"isolation.level", "read_committed"},
                                                     {"partition.assignment.strategy", "range"}});
    kafka::PartitionListPtr topics(rd_kafka_topic_partition_list_new(1));
    rd_kafka_topic_partition_list_add(topics.get(), input.c_str(), RD_KAFKA_PARTITION_UA);
    BOOST_REQUIRE_EQUAL(rd_kafka_subscribe(consumer.get(), topics.get()),
                        RD_KAFKA_RESP_ERR_NO_ERROR);

    kafka::KafkaPtr producer = transactional_producer();
    check(kafka::KafkaError::from(rd_kafka_init_transactions(producer.get(), kTimeoutMs)),
          "init_transactions");

    // Consumes until `total` records were read, copying each to the output.
    int consumed = 0;
    auto consume_until = [&](int total) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
        while (consumed < total) {
            BOOST_REQUIRE(std::chrono::steady_clock::now() < deadline);
            kafka::MessagePtr msg(rd_kafka_consumer_poll(consumer.get(), 200));
            if (!msg || msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                continue;
            }
            BOOST_REQUIRE_MESSAGE(msg->err == RD_KAFKA_RESP_ERR_NO_ERROR,
                                  rd_kafka_message_errstr(msg.get()));
            produce(producer.get(), output, msg->partition,
                    std::string(static_cast<const char*>(msg->payload), msg->len));
            ++consumed;
        }
    };
    auto positions = [&] {
        rd_kafka_topic_partition_list_t* raw = nullptr;
        BOOST_REQUIRE_EQUAL(rd_kafka_assignment(consumer.get(), &raw), RD_KAFKA_RESP_ERR_NO_ERROR);
        kafka::PartitionListPtr list(raw);
        BOOST_REQUIRE_EQUAL(rd_kafka_position(consumer.get(), list.get()),
                            RD_KAFKA_RESP_ERR_NO_ERROR);
        return list;
    };
    auto send_offsets = [&](rd_kafka_topic_partition_list_t* offsets) {
        kafka::GroupMetadataPtr meta(rd_kafka_consumer_group_metadata(consumer.get()));
        check(kafka::KafkaError::from(rd_kafka_send_offsets_to_transaction(producer.get(), offsets,
                                                                           meta.get(), kTimeoutMs)),
              "send_offsets_to_transaction");
    };

    check(kafka::KafkaError::from(rd_kafka_begin_transaction(producer.get())), "begin");
    consume_until(30);
    kafka::PartitionListPtr first_positions = positions();
    BOOST_REQUIRE_EQUAL(first_positions->cnt, kPartitions);
    send_offsets(first_positions.get());
    check(kafka::KafkaError::from(rd_kafka_commit_transaction(producer.get(), kTimeoutMs)),
          "commit");

    std::map<int, int64_t> expected;
    for (int i = 0; i < first_positions->cnt; ++i) {
        expected[first_positions->elems[i].partition] = first_positions->elems[i].offset;
    }
    // Positions equal what was produced per partition (nothing transactional on
    // the input, so no control records shift them).
    BOOST_TEST(by_partition(expected) == by_partition(produced), boost::test_tools::per_element());
    BOOST_TEST(by_partition(committed_offsets(group, input, kPartitions)) == by_partition(expected),
               boost::test_tools::per_element());

    // A transaction that is aborted leaves the committed offsets unchanged,
    // and its output is invisible to read_committed readers.
    produce_batch(12, "second-");
    check(kafka::KafkaError::from(rd_kafka_begin_transaction(producer.get())), "begin");
    consume_until(42);
    kafka::PartitionListPtr second_positions = positions();
    send_offsets(second_positions.get());
    check(kafka::KafkaError::from(rd_kafka_abort_transaction(producer.get(), kTimeoutMs)), "abort");
    BOOST_TEST(by_partition(committed_offsets(group, input, kPartitions)) == by_partition(expected),
               boost::test_tools::per_element());

    const auto out = values_of(etld::test::read_all(output, "read_committed"));
    BOOST_TEST(out.size() == 30U);
    BOOST_TEST(std::count_if(out.begin(), out.end(),
                             [](const std::string& v) { return v.rfind("first-", 0) == 0; }) == 30);

    rd_kafka_consumer_close(consumer.get());
}

BOOST_AUTO_TEST_SUITE_END()
