/*
 * test_sim_evq.c — the simulator's event queue and its size parser.
 *
 * The queue must pop in exact (time, push order) order whatever the mix of
 * near events (same bucket, inside the ring's window) and far ones (the
 * overflow heap), including events pushed into the bucket being drained.
 * A plain sorted reference checks every pop. The simulator's sources are
 * compiled in directly: shoal-sim is an executable, not a library.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include <shoal/rng.h>

#include "sim/evq.c"
#include "sim/opts.c"

/* The reference: every event pushed and not yet popped, in push order. */
typedef struct ref {
    sim_ev *v;
    size_t n, cap;
} ref;

static void ref_push(ref *r, sh_time t, uint64_t seq, uint32_t what)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 1024;
        r->v = realloc(r->v, r->cap * sizeof *r->v);
        assert_non_null(r->v);
    }
    r->v[r->n++] = (sim_ev){.t = t, .seq = seq, .what = what, .arg = (uint32_t)seq};
}

/* Removes and returns the least (t, seq). */
static sim_ev ref_pop(ref *r)
{
    size_t best = 0;
    for (size_t i = 1; i < r->n; i++)
        if (ev_less(&r->v[i], &r->v[best])) best = i;
    sim_ev e = r->v[best];
    r->v[best] = r->v[--r->n];
    return e;
}

static void push_both(sim_evq *q, ref *r, sh_time t, uint32_t what)
{
    uint64_t seq = q->seq;
    sim_evq_push(q, t, what, (uint32_t)seq);
    ref_push(r, t, seq, what);
}

static void pop_check(sim_evq *q, ref *r, sh_time *now)
{
    sim_ev got = {0}, want = ref_pop(r);
    assert_true(sim_evq_pop(q, &got));
    assert_int_equal(got.t, want.t);
    assert_int_equal(got.seq, want.seq);
    assert_int_equal(got.what, want.what);
    assert_int_equal(got.arg, want.arg);
    assert_true(got.t >= *now);
    *now = got.t;
}

/* A random future delay: same instant, same bucket, the window, beyond it. */
static sh_time delay(sh_rng *g)
{
    switch (sh_rng_below(g, 6)) {
    case 0:
        return 0;
    case 1:
        return sh_rng_below(g, 16); /* within a 16 ns bucket */
    case 2:
        return sh_rng_below(g, 1000);
    case 3:
        return sh_rng_below(g, 16u << 8); /* inside the ring */
    case 4:
        return (16u << 8) + sh_rng_below(g, 50000); /* the heap */
    default:
        return sh_rng_below(g, 5) * 100; /* ties */
    }
}

static void test_order_against_reference(void **st)
{
    (void)st;
    for (uint64_t seed = 1; seed <= 20; seed++) {
        sh_rng g;
        sh_rng_seed(&g, seed);
        sim_evq q;
        assert_int_equal(sim_evq_init(&q, 4, 8), 0); /* 16 ns buckets, 256 of them: wraps often */
        ref r = {0};
        sh_time now = 1000000;
        for (int i = 0; i < 50; i++)
            push_both(&q, &r, now + delay(&g), (uint32_t)i);
        for (int step = 0; step < 20000; step++) {
            if (r.n && sh_rng_below(&g, 3) != 0) {
                pop_check(&q, &r, &now);
            } else {
                uint32_t k = 1 + (uint32_t)sh_rng_below(&g, 4);
                for (uint32_t j = 0; j < k; j++)
                    push_both(&q, &r, now + delay(&g), (uint32_t)step);
            }
            assert_int_equal(sim_evq_size(&q), r.n);
        }
        while (r.n)
            pop_check(&q, &r, &now);
        sim_ev e;
        assert_false(sim_evq_pop(&q, &e));
        assert_int_equal(sim_evq_size(&q), 0);
        assert_int_equal(q.err, 0);
        sim_evq_free(&q);
        free(r.v);
    }
}

/* Only far events: the cursor jumps over the empty ring instead of walking it. */
static void test_far_future_and_empty(void **st)
{
    (void)st;
    sim_evq q;
    assert_int_equal(sim_evq_init(&q, 12, 16), 0);
    sim_ev e;
    assert_false(sim_evq_pop(&q, &e));
    sim_evq_push(&q, SH_SEC(3000), 2, 0);
    sim_evq_push(&q, SH_SEC(1000), 1, 0);
    sim_evq_push(&q, SH_SEC(1000), 9, 0); /* same time: push order */
    assert_true(sim_evq_pop(&q, &e));
    assert_int_equal(e.what, 1);
    sim_evq_push(&q, SH_SEC(1000) + 5, 3, 0); /* into the bucket being drained */
    sim_evq_push(&q, SH_SEC(1000), 4, 0);     /* same instant as the one just popped */
    uint32_t order[] = {9, 4, 3, 2};
    for (int i = 0; i < 4; i++) {
        assert_true(sim_evq_pop(&q, &e));
        assert_int_equal(e.what, order[i]);
    }
    assert_false(sim_evq_pop(&q, &e));
    sim_evq_free(&q);
}

static void test_parse_size(void **st)
{
    (void)st;
    uint64_t v;
    assert_int_equal(sim_parse_size("5G", &v), 0);
    assert_int_equal(v, 5ull << 30);
    assert_int_equal(sim_parse_size("512K", &v), 0);
    assert_int_equal(v, 512u * 1024);
    assert_int_equal(sim_parse_size("1.5M", &v), 0);
    assert_int_equal(v, 3u << 19);
    assert_int_equal(sim_parse_size("100", &v), 0);
    assert_int_equal(v, 100);
    assert_int_equal(sim_parse_size("2GiB", &v), 0);
    assert_int_equal(v, 2ull << 30);
    assert_int_equal(sim_parse_size("4t", &v), 0);
    assert_int_equal(v, 4ull << 40);
    const char *bad[] = {"",
                         "G",
                         "-1",
                         "1.",
                         ".5",
                         "1Q",
                         "1GG",
                         "5 G",
                         "1e3",
                         "18446744073709551616",
                         "17179869184G"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(sim_parse_size(bad[i], &v), SH_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_against_reference),
        cmocka_unit_test(test_far_future_and_empty),
        cmocka_unit_test(test_parse_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
