// runtime/op_queue.hpp: an intrusive FIFO of operations, linked through
// Operation::next (the epoll backend's parked and finished operations).
// Pushing and popping allocate nothing: the hot path uses them per message.
#pragma once

#include <pants/detail/operation.hpp>

namespace pants::detail {

/// One pointer, to the last operation, whose `next` is the first (a ring):
/// the epoll backend keeps three per descriptor number, so a server pays
/// for them per connection.
class OpQueue {
public:
    bool empty() const noexcept { return tail_ == nullptr; }
    /// The first operation, or null.
    Operation* front() const noexcept { return tail_ ? tail_->next : nullptr; }
    /// The operation after `op` (queued here), or null after the last.
    Operation* after(const Operation& op) const noexcept { return &op == tail_ ? nullptr : op.next; }
    void push(Operation& op) noexcept;
    Operation* pop() noexcept;
    bool remove(Operation& op) noexcept;  // false if op is not queued here

private:
    Operation* tail_ = nullptr;
};

inline void OpQueue::push(Operation& op) noexcept {
    if (tail_) {
        op.next = tail_->next;
        tail_->next = &op;
    } else {
        op.next = &op;
    }
    tail_ = &op;
}

inline Operation* OpQueue::pop() noexcept {
    if (!tail_) return nullptr;
    Operation* op = tail_->next;
    if (op == tail_)
        tail_ = nullptr;
    else
        tail_->next = op->next;
    op->next = nullptr;
    return op;
}

inline bool OpQueue::remove(Operation& op) noexcept {
    if (!tail_) return false;
    Operation* prev = tail_;
    do {
        Operation* p = prev->next;
        if (p == &op) {
            if (p == prev) {
                tail_ = nullptr;
            } else {
                prev->next = p->next;
                if (p == tail_) tail_ = prev;
            }
            p->next = nullptr;
            return true;
        }
        prev = p;
    } while (prev != tail_);
    return false;
}

}  // namespace pants::detail
