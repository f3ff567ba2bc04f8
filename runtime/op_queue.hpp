// runtime/op_queue.hpp: an intrusive FIFO of operations, linked through
// Operation::next (the epoll backend's parked and finished operations).
// Pushing and popping allocate nothing: the hot path uses them per message.
#pragma once

#include <pants/detail/operation.hpp>

namespace pants::detail {

struct OpQueue {
    Operation* head = nullptr;
    Operation* tail = nullptr;
    void push(Operation& op) noexcept;
    Operation* pop() noexcept;
    bool remove(Operation& op) noexcept;  // false if op is not queued here
};

inline void OpQueue::push(Operation& op) noexcept {
    op.next = nullptr;
    if (tail)
        tail->next = &op;
    else
        head = &op;
    tail = &op;
}

inline Operation* OpQueue::pop() noexcept {
    Operation* op = head;
    if (op) {
        head = op->next;
        if (!head) tail = nullptr;
        op->next = nullptr;
    }
    return op;
}

inline bool OpQueue::remove(Operation& op) noexcept {
    Operation* prev = nullptr;
    for (Operation* p = head; p; prev = p, p = p->next) {
        if (p != &op) continue;
        (prev ? prev->next : head) = p->next;
        if (tail == p) tail = prev;
        p->next = nullptr;
        return true;
    }
    return false;
}

}  // namespace pants::detail
