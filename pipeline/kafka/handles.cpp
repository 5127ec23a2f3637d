#include "handles.h"

namespace etld::pipeline::kafka {

std::optional<KafkaError> KafkaError::from(rd_kafka_error_t* raw) {
    if (raw == nullptr) {
        return std::nullopt;
    }
    ErrorPtr error(raw);
    KafkaError out;
    out.code = rd_kafka_error_code(error.get());
    out.message = rd_kafka_error_string(error.get());
    out.retriable = rd_kafka_error_is_retriable(error.get()) != 0;
    out.txn_requires_abort = rd_kafka_error_txn_requires_abort(error.get()) != 0;
    out.fatal = rd_kafka_error_is_fatal(error.get()) != 0;
    return out;
}

KafkaError KafkaError::from_code(rd_kafka_resp_err_t code, std::string context) {
    KafkaError out;
    out.code = code;
    out.message = context.empty() ? std::string(rd_kafka_err2str(code))
                                  : context + ": " + rd_kafka_err2str(code);
    return out;
}

std::string KafkaError::describe() const {
    std::string text = std::string(rd_kafka_err2name(code)) + ": " + message;
    if (fatal) {
        text += " (fatal)";
    } else if (txn_requires_abort) {
        text += " (transaction must be aborted)";
    } else if (retriable) {
        text += " (retriable)";
    }
    return text;
}

}  // namespace etld::pipeline::kafka
