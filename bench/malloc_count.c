/* bench/malloc_count.c: an LD_PRELOAD shim that counts heap allocations
 * (malloc, calloc, realloc, posix_memalign, aligned_alloc; operator new
 * goes through malloc) and prints "malloc_count: N" to stderr at exit.
 * Used by bench/dns_cost.sh. Built with: cc -O2 -shared -fPIC. */
#include <stddef.h>
#include <stdio.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static unsigned long long count;

static void counted(void) { __atomic_add_fetch(&count, 1, __ATOMIC_RELAXED); }

void *malloc(size_t n) { counted(); return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { counted(); return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { counted(); return __libc_realloc(p, n); }
void *aligned_alloc(size_t a, size_t n) { counted(); return __libc_memalign(a, n); }
int posix_memalign(void **out, size_t a, size_t n) {
    counted();
    *out = __libc_memalign(a, n);
    return *out ? 0 : 12; /* ENOMEM */
}

__attribute__((destructor)) static void report(void) { fprintf(stderr, "malloc_count: %llu\n", count); }
