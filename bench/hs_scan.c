/*
 * Hyperscan baseline for scripts/bench-peers.sh: the bare per-line scan.
 *
 *   hs_scan PATTERNS_FILE LOG_FILE [COUNTS_OUT]
 *
 * PATTERNS_FILE holds one regex per line (as written by
 * `cargo run --release -p engine --example gen_workload`); pattern i gets id i
 * and is reported as rule `r<i>`, the name gen_workload gives it in
 * rules-N.toml. Named groups `(?P<name>` / `(?<name>` are rewritten to plain
 * `(` because Hyperscan has no named captures (captures are ignored anyway).
 *
 * All patterns are compiled into one block-mode database with
 * HS_FLAG_SINGLEMATCH, so a pattern reports at most once per line: the same
 * "a line counts once" semantics as a logpulse rule without count_repeats.
 * The log is read a 1 MiB chunk at a time, as logpulse reads it, and hs_scan is
 * called once per line (without its '\n'); the callback increments a per-pattern
 * counter. No time parsing,
 * no windows, no output other than the counts.
 *
 * COUNTS_OUT (default: stdout) gets `r<i> <lines matched>` per pattern.
 * stderr gets a summary: lines, total matches, compile and scan times.
 *
 * Build: cc -O2 bench/hs_scan.c -lhs -o target/hs_scan
 */
#define _POSIX_C_SOURCE 200809L
#include <hs/hs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* How much of the log is read at a time (logpulse's LineReader reads 1 MiB too). */
#define CHUNK_BYTES (1 << 20)

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *msg) {
    fprintf(stderr, "hs_scan: %s\n", msg);
    exit(1);
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(1);
    }
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap);
    if (!buf) die("out of memory");
    for (;;) {
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            if (!buf) die("out of memory");
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        if (r == 0) break;
        n += r;
    }
    if (ferror(f)) die("read error");
    fclose(f);
    *len = n;
    return buf;
}

/* Rewrite `(?P<name>` and `(?<name>` (not `(?<=`/`(?<!`) to `(` in place. */
static void strip_named_groups(char *p) {
    char *w = p;
    for (char *r = p; *r;) {
        if (r[0] == '\\' && r[1]) {
            *w++ = *r++;
            *w++ = *r++;
            continue;
        }
        char *name = NULL;
        if (strncmp(r, "(?P<", 4) == 0)
            name = r + 4;
        else if (strncmp(r, "(?<", 3) == 0 && r[3] != '=' && r[3] != '!')
            name = r + 3;
        if (name) {
            char *end = strchr(name, '>');
            if (end) {
                *w++ = '(';
                r = end + 1;
                continue;
            }
        }
        *w++ = *r++;
    }
    *w = '\0';
}

static unsigned long long *counts;

static int on_match(unsigned int id, unsigned long long from, unsigned long long to,
                    unsigned int flags, void *ctx) {
    (void)from, (void)to, (void)flags, (void)ctx;
    counts[id]++;
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: hs_scan PATTERNS_FILE LOG_FILE [COUNTS_OUT]\n");
        return 2;
    }
    double t0 = now();

    size_t plen;
    char *ptext = read_file(argv[1], &plen);
    size_t cap = 16, n = 0;
    char **exprs = malloc(cap * sizeof *exprs);
    for (char *line = ptext; line < ptext + plen;) {
        char *nl = memchr(line, '\n', ptext + plen - line);
        char *end = nl ? nl : ptext + plen;
        *end = '\0';
        if (end > line && end[-1] == '\r') end[-1] = '\0';
        if (*line) {
            if (n == cap) exprs = realloc(exprs, (cap *= 2) * sizeof *exprs);
            strip_named_groups(line);
            exprs[n++] = line;
        }
        line = end + 1;
    }
    if (n == 0) die("no patterns");
    unsigned int *flags = malloc(n * sizeof *flags), *ids = malloc(n * sizeof *ids);
    for (size_t i = 0; i < n; i++) {
        flags[i] = HS_FLAG_SINGLEMATCH;
        ids[i] = (unsigned int)i;
    }
    hs_database_t *db = NULL;
    hs_compile_error_t *cerr = NULL;
    if (hs_compile_multi((const char *const *)exprs, flags, ids, (unsigned int)n, HS_MODE_BLOCK,
                         NULL, &db, &cerr) != HS_SUCCESS) {
        fprintf(stderr, "hs_scan: pattern %d (%s): %s\n", cerr->expression,
                cerr->expression >= 0 ? exprs[cerr->expression] : "-", cerr->message);
        return 1;
    }
    hs_scratch_t *scratch = NULL;
    if (hs_alloc_scratch(db, &scratch) != HS_SUCCESS) die("hs_alloc_scratch failed");
    counts = calloc(n, sizeof *counts);
    double t1 = now();

    /* The log is streamed through one buffer, as logpulse reads it: a chunk at a time,
       the unfinished last line carried to the front. (Reading the whole file into a
       growing buffer first cost about 0.1 s of page faults on a 160 MB log, which is
       not Hyperscan's time.) */
    FILE *logf = fopen(argv[2], "rb");
    if (!logf) {
        perror(argv[2]);
        return 1;
    }
    size_t bufcap = CHUNK_BYTES, have = 0;
    char *buf = malloc(bufcap);
    if (!buf) die("out of memory");
    double t2 = now();
    unsigned long long lines = 0;
    for (int eof = 0; !eof;) {
        if (have == bufcap) { /* one line longer than the buffer: grow it */
            bufcap *= 2;
            buf = realloc(buf, bufcap);
            if (!buf) die("out of memory");
        }
        size_t r = fread(buf + have, 1, bufcap - have, logf);
        if (r == 0) {
            if (ferror(logf)) die("read error");
            eof = 1;
        }
        have += r;
        char *line = buf, *stop = buf + have;
        for (;;) {
            char *nl = memchr(line, '\n', stop - line);
            if (!nl && !(eof && line < stop)) break;
            char *end = nl ? nl : stop;
            if (hs_scan(db, line, (unsigned int)(end - line), 0, scratch, on_match, NULL) != HS_SUCCESS)
                die("hs_scan failed");
            lines++;
            line = nl ? nl + 1 : stop;
        }
        have = stop - line;
        memmove(buf, line, have);
    }
    fclose(logf);
    double t3 = now();

    FILE *out = argc == 4 ? fopen(argv[3], "w") : stdout;
    if (!out) {
        perror(argv[3]);
        return 1;
    }
    unsigned long long total = 0;
    for (size_t i = 0; i < n; i++) {
        fprintf(out, "r%zu %llu\n", i, counts[i]);
        total += counts[i];
    }
    if (out != stdout) fclose(out);
    fprintf(stderr,
            "hs_scan: %zu patterns, %llu lines, %llu matches; compile %.3f s, "
            "read and scan %.3f s (%.0f lines/s)\n",
            n, lines, total, t1 - t0, t3 - t2, lines / (t3 - t2));
    hs_free_scratch(scratch);
    hs_free_database(db);
    return 0;
}
