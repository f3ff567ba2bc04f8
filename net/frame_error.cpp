// FrameError: the "pants.frame" error category.
#include <pants/frame_error.hpp>

#include <string>

namespace pants {

namespace {

class FrameCategory final : public std::error_category {
public:
    const char* name() const noexcept override { return "pants.frame"; }
    std::string message(int c) const override {
        switch (FrameError(c)) {
        case FrameError::no_match:
            return "received bytes can never match the read_delimiter regex";
        case FrameError::regex_limit:
            return "read_delimiter regex reached its match limit";
        case FrameError::regex_failed:
            return "read_delimiter regex failed on the received bytes";
        }
        return "unknown framing error";
    }
};

}  // namespace

const std::error_category& frame_category() noexcept {
    static const FrameCategory category;
    return category;
}

}  // namespace pants
