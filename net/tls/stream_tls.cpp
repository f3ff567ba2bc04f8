// The TLS entry points of Stream and ServerBase (Client's: client/client_tls.cpp).
#include <pants/server.hpp>
#include <pants/tls.hpp>

#include "tls_stream.hpp"

namespace pants {

Result<void> Stream::start_tls(const tls::Context& context, std::string_view server_name) {
    if (io().transform()) return fail(EALREADY);
    if (io().closing()) return unexpected(io().close_error());
    auto t = detail::TlsStream::create(io(), context, server_name);
    if (!t) return unexpected(t.error());
    io().set_transform(std::move(*t), false);
    return ok();
}

void ServerBase::set_tls(const tls::Context& context) {
    start_tls_ = [this, context](Stream& s) {
        auto t = detail::TlsStream::create(s.io(), context, {}, [this, &s] { on_accept(s); });
        if (!t) {
            // OpenSSL could not make the connection's state (out of
            // memory): that connection only fails.
            s.io().transform_failed(t.error(), false);
            return;
        }
        s.io().set_transform(std::move(*t), true);
    };
}

}  // namespace pants
