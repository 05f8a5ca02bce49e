/* Risk's compiled one-order kernel: DecidedIds.seen + one_order_checker's check + the
 * DECISION for one order, from the ORDER's bytes to the DECISION's bytes.
 *
 * The Python path (RiskEngine._decide_small over engines/risk/_checks.py) stays the
 * reference and the fallback: the same state (the same numpy arrays, through their
 * memoryviews), the same checks in the same order with the same arithmetic (IEEE doubles, no
 * contraction, floor division as Python's), and a property test holds the two to the same
 * decisions and state. Offsets and types come from engines/_schema.h (shm/layout.py); the
 * module exports SCHEMA (tick, order, decision) and CONSTANTS for engines.compiled to check.
 */
#include <math.h>
#include <stdint.h>

#include "_kernel.h"

#define COUNTER_BITS 40 /* engines.records.COUNTER_BITS: exported, and checked at load */
#define COUNTER_MASK ((UINT64_C(1) << COUNTER_BITS) - 1)
#define NS_PER_S INT64_C(1000000000)

/* A DECISION is its ORDER's bytes followed by what risk adds (write_decisions relies on it). */
_Static_assert(DECISION_ORDER_ID_OFF == ORDER_ORDER_ID_OFF && DECISION_VERDICT_OFF >= ORDER_SIZE,
               "a DECISION no longer starts with its ORDER");

typedef struct {
    PyObject_HEAD
    Arr mids, book, flags, buckets, counts, marks, out;
    Arr sbook, sgross, slimit; /* per-strategy budgets (engines/risk/_budgets.py), or NULL views */
    int64_t n_symbols, max_strategies, max_order_qty, max_orders_per_s, max_position, max_gross;
    int64_t default_ttl_ns; /* for an order whose ttl_ms is 0 */
    double band, max_notional;
    int64_t last_strat, last_counter; /* the order decide() decided, for commit() */
} CheckObject;

static void check_dealloc(CheckObject *self) {
    Py_XDECREF(self->mids.view);
    Py_XDECREF(self->book.view);
    Py_XDECREF(self->flags.view);
    Py_XDECREF(self->buckets.view);
    Py_XDECREF(self->counts.view);
    Py_XDECREF(self->marks.view);
    Py_XDECREF(self->out.view);
    Py_XDECREF(self->sbook.view);
    Py_XDECREF(self->sgross.view);
    Py_XDECREF(self->slimit.view);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static inline int64_t floor_div(int64_t a, int64_t b) {
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static int budget_one(CheckObject *s, uint32_t strat, uint32_t sym, int side, int64_t qty);

static int check_one(CheckObject *s, double *mids, int64_t *book, int64_t *flags,
                     int64_t *buckets, int64_t *counts, uint32_t strat, uint32_t sym, int side,
                     int64_t qty, double price, int64_t ts_ns) {
    if (qty <= 0 || (side != 1 && side != -1) || sym >= s->n_symbols ||
        strat >= s->max_strategies || !isfinite(price) || price <= 0)
        return REASON_INVALID;
    if (flags[1])
        return REASON_KILL_SWITCH;
    double mid = mids[sym];
    if (mid != mid)
        return REASON_NO_MARKET;
    if (fabs(price - mid) > s->band * mid)
        return REASON_PRICE_BAND;
    if (qty > s->max_order_qty)
        return REASON_MAX_QTY;
    if ((double)qty * price > s->max_notional)
        return REASON_MAX_NOTIONAL;
    int64_t bucket = floor_div(ts_ns, NS_PER_S);
    if (bucket > buckets[strat]) {
        buckets[strat] = bucket;
        counts[strat] = 0;
    }
    int64_t count = counts[strat] = counts[strat] + 1;
    if (count > s->max_orders_per_s)
        return REASON_RATE_LIMIT;
    /* book = [filled | open buys | open sells]: the worst case of the symbol is
     * max(filled + open buys, open sells - filled) (engines/risk/_checks.py) */
    int64_t n = s->n_symbols, filled = book[sym];
    int64_t *open = &book[(side > 0 ? n : 2 * n) + sym], reserved;
    int64_t long_ = filled + book[n + sym], short_ = book[2 * n + sym] - filled;
    int64_t old = long_ > short_ ? long_ : short_;
    if (side > 0) {
        if (__builtin_add_overflow(long_, qty, &long_) || long_ > s->max_position)
            return REASON_MAX_POSITION;
    } else if (__builtin_add_overflow(short_, qty, &short_) || short_ > s->max_position) {
        return REASON_MAX_POSITION;
    }
    int64_t worst = long_ > short_ ? long_ : short_;
    int64_t gross = flags[0] + worst - old;
    if (gross > s->max_gross)
        return REASON_MAX_GROSS;
    if (__builtin_add_overflow(*open, qty, &reserved))
        return REASON_MAX_POSITION;
    if (s->sbook.view != NULL) {
        int code = budget_one(s, strat, sym, side, qty);
        if (code)
            return code;
    }
    *open = reserved;
    flags[0] = gross;
    return REASON_OK;
}

/* The strategy's budget (engines/risk/_budgets.py budget_checker): the strategy's own worst
 * case per symbol, summed, may not rise past its budget; NO_BUDGET (< 0) approves nothing.
 * Reserves the order in the strategy's book when it passes. */
static int budget_one(CheckObject *s, uint32_t strat, uint32_t sym, int side, int64_t qty) {
    int64_t *sbook = arr_addr(&s->sbook), *sgross = arr_addr(&s->sgross);
    int64_t *slimit = arr_addr(&s->slimit);
    if (!sbook || !sgross || !slimit) {
        PyErr_Clear(); /* a released view: refuse, never approve past a budget unseen */
        return REASON_NO_BUDGET;
    }
    int64_t limit = slimit[strat];
    if (limit < 0)
        return REASON_NO_BUDGET;
    int64_t cells = s->max_strategies * s->n_symbols, k = (int64_t)strat * s->n_symbols + sym;
    int64_t filled = sbook[k], long_ = filled + sbook[cells + k];
    int64_t short_ = sbook[2 * cells + k] - filled, old = long_ > short_ ? long_ : short_;
    int64_t *open = &sbook[(side > 0 ? cells : 2 * cells) + k], reserved;
    if (side > 0 ? __builtin_add_overflow(long_, qty, &long_)
                 : __builtin_add_overflow(short_, qty, &short_))
        return REASON_BUDGET;
    int64_t worst = long_ > short_ ? long_ : short_;
    int64_t gross = sgross[strat] + worst - old;
    if (worst != old && gross > limit)
        return REASON_BUDGET;
    if (__builtin_add_overflow(*open, qty, &reserved))
        return REASON_BUDGET;
    *open = reserved;
    sgross[strat] = gross;
    return REASON_OK;
}

/* This symbol's mid from `latest(sym)` (the ticks ring's board look-up), when it has one. */
static int mid_from_board(PyObject *latest, uint32_t sym, double *mids) {
    PyObject *key = PyLong_FromUnsignedLong(sym), *quote = NULL;
    if (key != NULL) {
        quote = PyObject_CallOneArg(latest, key);
        Py_DECREF(key);
    }
    if (quote == NULL)
        return -1;
    if (quote != Py_None) {
        Py_buffer q;
        int bad = record_in(quote, &q, TICK_SIZE, "a TICK (quote)");
        Py_DECREF(quote);
        if (bad < 0)
            return -1;
        mids[sym] = (GETF(TICK, q.buf, BID) + GETF(TICK, q.buf, ASK)) * 0.5;
        PyBuffer_Release(&q);
    } else {
        Py_DECREF(quote);
    }
    return 0;
}

/* decide(order, latest, now_ns) -> the reason code with the DECISION in `out`, or -1 for an
 * order decided before (nothing written). `latest` is the ticks ring's board look-up
 * (symbol_id -> that symbol's latest TICK or None), or None to check against the mids kept. */
static PyObject *check_decide(CheckObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "decide(order, latest, now_ns)");
        return NULL;
    }
    long long now_ns = PyLong_AsLongLong(args[2]);
    if (now_ns == -1 && PyErr_Occurred())
        return NULL;
    double *mids = arr_addr(&self->mids);
    int64_t *book = arr_addr(&self->book), *flags = arr_addr(&self->flags);
    int64_t *buckets = arr_addr(&self->buckets), *counts = arr_addr(&self->counts);
    int64_t *marks = arr_addr(&self->marks);
    char *out = arr_addr(&self->out);
    if (!mids || !book || !flags || !buckets || !counts || !marks || !out)
        return NULL;
    Py_buffer b;
    if (record_in(args[0], &b, ORDER_SIZE, "an ORDER") < 0)
        return NULL;
    const char *rec = b.buf;
    uint64_t counter = GETF(ORDER, rec, ORDER_ID) & COUNTER_MASK;
    uint32_t strat = GETF(ORDER, rec, STRATEGY_ID), sym = GETF(ORDER, rec, SYMBOL_ID);
    self->last_strat = -1;
    if (strat < self->marks.items && counter <= (uint64_t)marks[strat]) {
        PyBuffer_Release(&b);
        return PyLong_FromLong(-1);
    }
    if (args[1] != Py_None && sym < self->n_symbols && mid_from_board(args[1], sym, mids) < 0) {
        PyBuffer_Release(&b);
        return NULL;
    }
    int64_t ts_ns = GETF(ORDER, rec, TS_NS), ttl_ms = GETF(ORDER, rec, TTL_MS);
    int64_t ttl_ns = ttl_ms ? ttl_ms * INT64_C(1000000) : self->default_ttl_ns;
    /* stale first (engines.risk._checks.is_stale): an expired order changes no state */
    int code = (int64_t)now_ns - ts_ns > ttl_ns
                   ? REASON_STALE
                   : check_one(self, mids, book, flags, buckets, counts, strat, sym,
                               GETF(ORDER, rec, SIDE), GETF(ORDER, rec, QTY),
                               GETF(ORDER, rec, PRICE), ts_ns);
    memcpy(out, rec, ORDER_SIZE);
    PyBuffer_Release(&b);
    memset(out + ORDER_SIZE, 0, DECISION_SIZE - ORDER_SIZE);
    PUTF(DECISION, out, VERDICT, code ? VERDICT_REJECTED : VERDICT_APPROVED);
    PUTF(DECISION, out, REASON, (uint16_t)code);
    PUTF(DECISION, out, DECIDED_TS_NS, now_ns);
    if (strat < self->marks.items) {
        self->last_strat = strat;
        self->last_counter = (int64_t)counter;
    }
    return PyLong_FromLong(code);
}

/* commit(): the order decide() just decided is published: it is now the strategy's mark. */
static PyObject *check_commit(CheckObject *self, PyObject *unused) {
    if (self->last_strat >= 0) {
        int64_t *marks = arr_addr(&self->marks);
        if (marks == NULL)
            return NULL;
        marks[self->last_strat] = self->last_counter; /* ids only grow */
        self->last_strat = -1;
    }
    Py_RETURN_NONE;
}

static PyMethodDef check_methods[] = {
    {"decide", (PyCFunction)(void (*)(void))check_decide, METH_FASTCALL,
     "decide(order, latest, now_ns) -> reason code (DECISION in `out`), or -1 for a duplicate"},
    {"commit", (PyCFunction)check_commit, METH_NOARGS,
     "commit(): mark the order just decided (call once its decision is published)"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject CheckType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "engines.risk._kernel.Check",
    .tp_basicsize = sizeof(CheckObject),
    .tp_dealloc = (destructor)check_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Risk's one-order path (engines.risk uses it).",
    .tp_methods = check_methods,
};

/* check(mids, book, flags, rate_bucket, rate_count, marks, out, n_symbols, max_strategies,
 *       band, max_order_qty, max_notional, max_orders_per_s, max_position, max_gross,
 *       default_ttl_ns, strategy_book, strategy_gross, budget): the last three are None
 *       when budgets are off */
static PyObject *make_check(PyObject *mod, PyObject *args) {
    PyObject *mids, *book, *flags, *buckets, *counts, *marks, *out, *sbook, *sgross, *slimit;
    long long n_symbols, max_strategies, max_order_qty, max_orders_per_s, max_position,
        max_gross, default_ttl_ns;
    double band, max_notional;
    if (!PyArg_ParseTuple(args, "OOOOOOOLLdLdLLLLOOO", &mids, &book, &flags, &buckets,
                          &counts, &marks, &out, &n_symbols, &max_strategies, &band,
                          &max_order_qty, &max_notional, &max_orders_per_s, &max_position,
                          &max_gross, &default_ttl_ns, &sbook, &sgross, &slimit))
        return NULL;
    int budgets = sbook != Py_None;
    if (budgets != (sgross != Py_None) || budgets != (slimit != Py_None)) {
        PyErr_SetString(PyExc_TypeError, "strategy_book, strategy_gross and budget: all or none");
        return NULL;
    }
    CheckObject *self = PyObject_New(CheckObject, &CheckType);
    if (self == NULL)
        return NULL;
    self->mids.view = self->book.view = self->flags.view = self->buckets.view = NULL;
    self->counts.view = self->marks.view = self->out.view = NULL;
    self->sbook.view = self->sgross.view = self->slimit.view = NULL;
    if (arr_init(&self->mids, mids, "d", 8, n_symbols, "mids") < 0 ||
        arr_init(&self->book, book, "q", 8, 3 * n_symbols, "book") < 0 ||
        arr_init(&self->flags, flags, "q", 8, 2, "flags") < 0 ||
        arr_init(&self->buckets, buckets, "q", 8, max_strategies, "rate_bucket") < 0 ||
        arr_init(&self->counts, counts, "q", 8, max_strategies, "rate_count") < 0 ||
        arr_init(&self->marks, marks, "q", 8, 0, "marks") < 0 ||
        arr_init(&self->out, out, "B", 1, DECISION_SIZE, "out") < 0 ||
        (budgets &&
         (arr_init(&self->sbook, sbook, "q", 8, 3 * max_strategies * n_symbols,
                   "strategy_book") < 0 ||
          arr_init(&self->sgross, sgross, "q", 8, max_strategies, "strategy_gross") < 0 ||
          arr_init(&self->slimit, slimit, "q", 8, max_strategies, "budget") < 0))) {
        Py_DECREF(self);
        return NULL;
    }
    self->n_symbols = n_symbols;
    self->max_strategies = max_strategies;
    self->band = band;
    self->max_order_qty = max_order_qty;
    self->max_notional = max_notional;
    self->max_orders_per_s = max_orders_per_s;
    self->max_position = max_position;
    self->max_gross = max_gross;
    self->default_ttl_ns = default_ttl_ns;
    self->last_strat = -1;
    self->last_counter = 0;
    return (PyObject *)self;
}

static PyMethodDef module_methods[] = {
    {"check", make_check, METH_VARARGS, "Risk's one-order kernel."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef kernel_module = {
    PyModuleDef_HEAD_INIT, "engines.risk._kernel",
    "Risk's compiled one-order kernel (see engines/risk/_kernel.c).", -1,
    module_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__kernel(void) {
    if (PyType_Ready(&CheckType) < 0)
        return NULL;
    PyObject *module = PyModule_Create(&kernel_module);
    PyObject *schema = PyDict_New();
    if (module == NULL || schema == NULL || SCHEMA_ADD(schema, "tick", TICK) < 0 ||
        SCHEMA_ADD(schema, "order", ORDER) < 0 || SCHEMA_ADD(schema, "decision", DECISION) < 0 ||
        constants_add(module) < 0 ||
        PyModule_AddIntConstant(module, "COUNTER_BITS", COUNTER_BITS) < 0 ||
        PyModule_AddObject(module, "SCHEMA", schema) < 0) {
        Py_XDECREF(schema);
        Py_XDECREF(module);
        return NULL;
    }
    return module;
}
