/* The placement search's parts, called directly: the subproblem branch and
 * bound against brute force; annealing, neighbourhood search and the
 * threaded rounds against the constraints (every answer feasible, the
 * search never worse than its start, the same answer for the same seed). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cbc_models.h"
#include "cbc_sub.h"
#include "greedy.h"
#include "instgen.h"

/* ----------------------------------------------- subproblem vs brute -- */

#define NF 7
#define NK 3

struct sub_case {
    double lin[NF * NK], need[NF * 3], cap[NK * 3], fu[NK], pc[NK];
    uint32_t estart[NF + 1], eto[2 * NF * NF];
    double ew[2 * NF * NF];
    uint32_t bpair[2 * 2];
    uint8_t bok[2 * NK * NK];
    uint32_t cur[NF], best[NF];
    struct smo__sub s;
};

static double sub_value(const struct smo__sub *s, const uint32_t *a, bool *ok)
{
    double cpu[NK] = {0}, mem[NK] = {0}, gpu[NK] = {0}, v = 0;
    *ok = true;
    for (uint32_t i = 0; i < s->nf; i++) {
        double c = s->lin[i * s->nk + a[i]];
        if (isnan(c))
            *ok = false;
        v += c;
        cpu[a[i]] += s->need[3 * i];
        mem[a[i]] += s->need[3 * i + 1];
        gpu[a[i]] += s->need[3 * i + 2];
        for (uint32_t e = s->estart[i]; e < s->estart[i + 1]; e++)
            if (s->eto[e] > i && a[s->eto[e]] != a[i])
                v += s->ew[e];
    }
    double m = s->peak_floor;
    for (uint32_t j = 0; j < s->nk; j++) {
        if (cpu[j] > s->cap[3 * j] + 1e-9 || mem[j] > s->cap[3 * j + 1] ||
            gpu[j] > s->cap[3 * j + 2] + 1e-9)
            *ok = false;
        double u = s->fixed_u[j] + s->per_core[j] * cpu[j];
        m = u > m ? u : m;
    }
    for (uint32_t b = 0; b < s->nbound; b++) {
        uint32_t p = s->bpair[2 * b], q = s->bpair[2 * b + 1];
        if (!s->bok[(b * s->nk + a[p]) * s->nk + a[q]])
            *ok = false;
    }
    return v + s->balance * m;
}

static void make_case(struct sub_case *c, struct ig_rng *r)
{
    memset(c, 0, sizeof *c);
    uint32_t nf = NF, nk = NK;
    for (uint32_t i = 0; i < nf * nk; i++)
        c->lin[i] = ig_below(r, 8) == 0 ? NAN : ig_unit(r) * 2;
    for (uint32_t i = 0; i < nf; i++) {
        c->need[3 * i] = 0.5 + ig_below(r, 4);
        c->need[3 * i + 1] = 1 + ig_below(r, 3);
        c->need[3 * i + 2] = ig_below(r, 5) == 0;
        c->cur[i] = ig_below(r, nk);
        if (isnan(c->lin[i * nk + c->cur[i]])) /* where it may be */
            c->lin[i * nk + c->cur[i]] = ig_unit(r) * 2;
    }
    for (uint32_t j = 0; j < nk; j++) {
        c->cap[3 * j] = 8 + ig_below(r, 8);
        c->cap[3 * j + 1] = 10 + ig_below(r, 8);
        c->cap[3 * j + 2] = 1 + ig_below(r, 3);
        c->pc[j] = 1.0 / (16 + ig_below(r, 16));
        c->fu[j] = ig_unit(r) * 0.5;
    }
    /* Random connections, both directions. */
    uint32_t n = 0;
    for (uint32_t i = 0; i < nf; i++) {
        c->estart[i] = n;
        for (uint32_t g = 0; g < nf; g++) {
            uint32_t lo = i < g ? i : g, hi = i < g ? g : i;
            if (g != i && (lo * 7 + hi * 3 + (uint32_t)r->s) % 3 == 0) {
                c->eto[n] = g;
                c->ew[n++] = 1 + (double)((lo + hi) % 2);
            }
        }
    }
    c->estart[nf] = n;
    struct smo__sub *s = &c->s;
    s->nf = nf;
    s->nk = nk;
    s->lin = c->lin;
    s->need = c->need;
    s->cap = c->cap;
    s->estart = c->estart;
    s->eto = c->eto;
    s->ew = c->ew;
    s->nbound = ig_below(r, 3);
    for (uint32_t b = 0; b < s->nbound; b++) {
        c->bpair[2 * b] = ig_below(r, nf);
        c->bpair[2 * b + 1] = (c->bpair[2 * b] + 1 + ig_below(r, nf - 1)) % nf;
        for (uint32_t x = 0; x < nk * nk; x++)
            c->bok[b * nk * nk + x] = ig_below(r, 4) != 0;
    }
    s->bpair = c->bpair;
    s->bok = c->bok;
    s->balance = ig_below(r, 2) ? 10 : 0;
    s->peak_floor = ig_unit(r) * 0.6;
    s->fixed_u = c->fu;
    s->per_core = c->pc;
    s->cur = c->cur;
    s->best = c->best;
    s->max_nodes = 1000000;
}

/* The branch and bound finds exactly what trying all 3^7 assignments
 * finds: something better than the current placement when there is
 * something, with the same value, and nothing otherwise. */
static void test_sub_matches_brute_force(void **state)
{
    (void)state;
    struct ig_rng r = {42};
    int better = 0, valid = 0;
    for (int t = 0; t < 400; t++) {
        struct sub_case *c = malloc(sizeof *c);
        make_case(c, &r);
        struct smo__sub *s = &c->s;
        bool ok;
        double v0 = sub_value(s, c->cur, &ok);
        /* The current placement must be valid, as in the search. */
        if (!ok) {
            free(c);
            continue;
        }
        valid++;
        double best = v0;
        uint32_t a[NF];
        for (uint32_t code = 0; code < 2187; code++) { /* 3^7 */
            uint32_t x = code;
            for (uint32_t i = 0; i < NF; i++, x /= NK)
                a[i] = x % NK;
            double v = sub_value(s, a, &ok);
            if (ok && v < best)
                best = v;
        }
        int rc = smo__sub_solve(s);
        assert_true(s->finished);
        if (best < v0 - 1e-9) {
            assert_int_equal(rc, 1);
            double v = sub_value(s, c->best, &ok);
            assert_true(ok);
            assert_true(fabs(v - best) < 1e-7);
            better++;
            /* From the optimum, nothing better. */
            memcpy(c->cur, c->best, sizeof c->cur);
            assert_int_equal(smo__sub_solve(s), 0);
            assert_true(s->finished);
        } else
            assert_int_equal(rc, 0);
        free(c);
    }
    /* The cases are not all trivial. */
    print_message("%d of 400 cases valid, %d improvable\n", valid, better);
    assert_true(better > 20 && valid > 100);
}

/* A node limit stops the search and says so. */
static void test_sub_node_limit(void **state)
{
    (void)state;
    struct ig_rng r = {7};
    struct sub_case *c = malloc(sizeof *c);
    make_case(c, &r);
    c->s.max_nodes = 3;
    smo__sub_solve(&c->s);
    assert_false(c->s.finished);
    assert_true(c->s.nodes <= 4);
    free(c);
}

/* ------------------------------------- annealing and neighbourhoods -- */

static void check_search(bool anneal)
{
    char why[256];
    for (uint64_t seed = 1; seed <= 12; seed++) {
        struct ig_inst in;
        struct ig_opts o = ig_defaults(30 + 5 * (uint32_t)seed, 6);
        o.current = seed % 3 == 0;
        o.load = 0.8;
        ig_place(&in, seed, &o);
        uint32_t ns = in.p.n_services;
        int32_t *a = calloc(ns, sizeof *a), *b = calloc(ns, sizeof *b);
        if (smo__greedy_place(&in.p, a, 1000, why, sizeof why)) {
            free(a);
            free(b);
            ig_free(&in);
            continue;
        }
        double start = smo__greedy_objective(&in.p, a, NULL);
        memcpy(b, a, ns * sizeof *a);
        /* Deadlines far enough not to cut anything short. */
        bool improved = false;
        if (anneal) {
            struct smo__anneal_stats st;
            assert_int_equal(
                smo__cbc_anneal(&in.p, a, smo__now_ms() + 20000, seed, &st), 0);
            assert_int_equal(
                smo__cbc_anneal(&in.p, b, smo__now_ms() + 20000, seed, &st), 0);
            improved = st.improved;
        } else {
            struct smo__lns_stats st;
            smo__cbc_lns(&in.p, a, smo__now_ms() + 2000, seed, &st);
            smo__cbc_lns(&in.p, b, smo__now_ms() + 2000, seed, &st);
        }
        if (smo__greedy_check(&in.p, a, why, sizeof why))
            fail_msg("seed %llu: %s", (unsigned long long)seed, why);
        /* The search never gets worse; a walk says whether it did. */
        double v = smo__greedy_objective(&in.p, a, NULL);
        if (!anneal)
            assert_true(v <= start + 1e-9);
        else if (improved)
            assert_true(v < start - 1e-9);
        else
            assert_true(v >= start - 1e-9);
        /* Same seed, same answer (no deadline pressure). */
        assert_memory_equal(a, b, ns * sizeof *a);
        free(a);
        free(b);
        ig_free(&in);
    }
}

static void test_anneal_feasible_and_repeatable(void **state)
{
    (void)state;
    check_search(true);
}

static void test_lns_feasible_and_repeatable(void **state)
{
    (void)state;
    check_search(false);
}

/* The threaded rounds: feasible, never worse than the start, and, when
 * they end by themselves (a dozen idle rounds), the same answer each time
 * whichever thread finishes first. */
static void test_threaded_search(void **state)
{
    (void)state;
    char why[256];
    for (uint64_t seed = 1; seed <= 4; seed++) {
        struct ig_inst in;
        struct ig_opts o = ig_defaults(40, 6);
        ig_place(&in, seed, &o);
        uint32_t ns = in.p.n_services;
        int32_t *a = calloc(ns, sizeof *a), *b = calloc(ns, sizeof *b);
        assert_int_equal(smo__greedy_place(&in.p, a, 1000, why, sizeof why), 0);
        double start = smo__greedy_objective(&in.p, a, NULL);
        memcpy(b, a, ns * sizeof *a);
        struct smo__search_stats st;
        assert_int_equal(
            smo__cbc_search(&in.p, a, smo__now_ms() + 60000, true, 2, &st), 0);
        assert_true(st.rounds >= 2 * 12);
        assert_int_equal(
            smo__cbc_search(&in.p, b, smo__now_ms() + 60000, true, 2, &st), 0);
        if (smo__greedy_check(&in.p, a, why, sizeof why))
            fail_msg("seed %llu: %s", (unsigned long long)seed, why);
        assert_true(smo__greedy_objective(&in.p, a, NULL) <= start + 1e-9);
        assert_memory_equal(a, b, ns * sizeof *a);
        free(a);
        free(b);
        ig_free(&in);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sub_matches_brute_force),
        cmocka_unit_test(test_sub_node_limit),
        cmocka_unit_test(test_anneal_feasible_and_repeatable),
        cmocka_unit_test(test_lns_feasible_and_repeatable),
        cmocka_unit_test(test_threaded_search),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
