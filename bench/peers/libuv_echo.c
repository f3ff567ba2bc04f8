/* bench/peers/libuv_echo.c: a libuv echo server, written as libuv users
 * write one: uv_read_start on each accepted uv_tcp_t, and each chunk sent
 * back with uv_try_write, falling back to a queued uv_write (with a copy)
 * for what the socket did not take. Reads go into one static buffer, so the
 * steady state allocates nothing (as Pants).
 *
 *   libuv_echo [PORT]      (default 4000; listens on 127.0.0.1)
 */
#include <stdlib.h>
#include <string.h>
#include <uv.h>

static char read_buf[65536];

struct pending_write {
    uv_write_t req;
    char data[];
};

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    (void)h;
    (void)suggested;
    *buf = uv_buf_init(read_buf, sizeof read_buf);
}

static void on_closed(uv_handle_t *h) { free(h); }

static void on_written(uv_write_t *req, int status) {
    if (status < 0 && !uv_is_closing((uv_handle_t *)req->handle)) uv_close((uv_handle_t *)req->handle, on_closed);
    free(req);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
    if (n < 0) {
        if (!uv_is_closing((uv_handle_t *)s)) uv_close((uv_handle_t *)s, on_closed);
        return;
    }
    if (n == 0) return;
    uv_buf_t out = uv_buf_init(buf->base, (unsigned)n);
    int w = uv_stream_get_write_queue_size(s) ? UV_EAGAIN : uv_try_write(s, &out, 1);
    if (w == n) return;
    if (w < 0 && w != UV_EAGAIN) {
        uv_close((uv_handle_t *)s, on_closed);
        return;
    }
    size_t done = w > 0 ? (size_t)w : 0, rest = (size_t)n - done;
    struct pending_write *p = malloc(sizeof *p + rest);
    memcpy(p->data, buf->base + done, rest);
    uv_buf_t b = uv_buf_init(p->data, (unsigned)rest);
    uv_write(&p->req, s, &b, 1, on_written);
}

static void on_connection(uv_stream_t *server, int status) {
    if (status < 0) return;
    uv_tcp_t *c = malloc(sizeof *c);
    uv_tcp_init(server->loop, c);
    if (uv_accept(server, (uv_stream_t *)c) != 0) {
        uv_close((uv_handle_t *)c, on_closed);
        return;
    }
    uv_tcp_nodelay(c, 1);
    uv_read_start((uv_stream_t *)c, on_alloc, on_read);
}

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 4000;
    uv_loop_t *loop = uv_default_loop();
    uv_tcp_t server;
    uv_tcp_init(loop, &server);
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", port, &addr);
    if (uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0) != 0 ||
        uv_listen((uv_stream_t *)&server, 4096, on_connection) != 0)
        return 1;
    return uv_run(loop, UV_RUN_DEFAULT);
}
