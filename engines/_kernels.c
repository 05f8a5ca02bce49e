/* Compiled one-record kernels of the order path: the strategy's signal for one tick and
 * risk's checks for one order, from the record's bytes to the output record's bytes.
 *
 * Each is the Python reference run for the commonest case, one record at a time, with the
 * same state (the same numpy arrays, through their memoryviews) and the same arithmetic in
 * the same order (IEEE doubles, no contraction, floor division as Python's): the Python
 * paths stay the reference and the fallback, and property tests hold the two to the same
 * results. Both transports of the pipeline bench run the same kernels: only the transport
 * differs between them.
 *
 * Record layouts (shm/layout.py), little-endian:
 *   TICK     seq u8 @0, ts_ns i8 @8, symbol_id u4 @16, flags u4 @20, bid f8 @24, ask f8 @32,
 *            bid_size i8 @40, ask_size i8 @48, pad @56                                   (64 B)
 *   ORDER    order_id u8 @0, strategy_id u4 @8, symbol_id u4 @12, side i1 @16, type u1 @17,
 *            tif u1 @18, pad @19, pad u4 @20, qty i8 @24, price f8 @32, ts_ns i8 @40,
 *            origin_seq u8 @48, origin_ts_ns i8 @56                                      (64 B)
 *   DECISION the ORDER, then verdict u1 @64, pad @65, reason u2 @66, pad u4 @68,
 *            decided_ts_ns i8 @72, pad 16 B @80                                          (96 B)
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define TICK_SIZE 64
#define ORDER_SIZE 64
#define DECISION_SIZE 96
#define COUNTER_MASK ((UINT64_C(1) << 40) - 1)
#define NS_PER_S INT64_C(1000000000)

enum { SIDE_BUY = 1, SIDE_SELL = -1, TYPE_LIMIT = 1, TIF_IOC = 1 };
enum { VERDICT_APPROVED = 1, VERDICT_REJECTED = 2 };
enum {
    REASON_OK = 0, REASON_MAX_QTY = 1, REASON_MAX_NOTIONAL = 2, REASON_MAX_POSITION = 3,
    REASON_MAX_GROSS = 4, REASON_PRICE_BAND = 5, REASON_RATE_LIMIT = 6, REASON_KILL_SWITCH = 7,
    REASON_NO_MARKET = 8, REASON_INVALID = 9,
};

#define GET(type, buf, off) (*(const type *)((const char *)(buf) + (off)))
#define PUT(type, buf, off, v) (*(type *)((char *)(buf) + (off)) = (v))

/* A view the kernel keeps (of a numpy array or bytearray): its address, checked per call. */
typedef struct {
    PyObject *view;
    Py_ssize_t items;
} Arr;

static int arr_init(Arr *a, PyObject *obj, const char *fmt, Py_ssize_t itemsize,
                    Py_ssize_t min_items, const char *what) {
    a->view = PyMemoryView_FromObject(obj);
    if (a->view == NULL)
        return -1;
    Py_buffer *b = PyMemoryView_GET_BUFFER(a->view);
    const char *f = b->format == NULL ? "B" : b->format;
    if (f[0] == '<' || f[0] == '=' || f[0] == '@')
        f++;
    int same = strcmp(f, fmt) == 0 || (strcmp(fmt, "q") == 0 && strcmp(f, "l") == 0);
    if (!PyBuffer_IsContiguous(b, 'C') || b->itemsize != itemsize || !same ||
        b->readonly || b->len / itemsize < min_items) {
        PyErr_Format(PyExc_ValueError,
                     "%s must be a writable contiguous array of at least %zd '%s' items", what,
                     min_items, fmt);
        Py_CLEAR(a->view);
        return -1;
    }
    a->items = b->len / itemsize;
    return 0;
}

static inline void *arr_addr(const Arr *a) {
    if (((PyMemoryViewObject *)a->view)->flags & _Py_MEMORYVIEW_RELEASED) {
        PyErr_SetString(PyExc_ValueError, "operation forbidden on released memoryview object");
        return NULL;
    }
    return PyMemoryView_GET_BUFFER(a->view)->buf;
}

static int record_in(PyObject *obj, Py_buffer *b, Py_ssize_t size, const char *what) {
    if (PyObject_GetBuffer(obj, b, PyBUF_SIMPLE) < 0)
        return -1;
    if (b->len != size) {
        PyErr_Format(PyExc_ValueError, "%s record must be %zd bytes, got %zd", what, size,
                     b->len);
        PyBuffer_Release(b);
        return -1;
    }
    return 0;
}

/* ---- strategy: MeanReversion.on_row + _order for one tick ------------------------------ */

typedef struct {
    PyObject_HEAD
    Arr ema, pos, last, out;
    double alpha1, threshold;
    int64_t cooldown_ns, cap, cap_div, qty, base;
    uint32_t sid;
} SignalObject;

static void signal_dealloc(SignalObject *self) {
    Py_XDECREF(self->ema.view);
    Py_XDECREF(self->pos.view);
    Py_XDECREF(self->last.view);
    Py_XDECREF(self->out.view);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* on_tick(tick, now_ns, counter) -> the order's quantity with the ORDER in `out` (its id is
 * base + counter + 1: the caller counts it), or 0 for no order */
static PyObject *signal_on_tick(SignalObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "on_tick(tick, now_ns, counter)");
        return NULL;
    }
    long long now_ns = PyLong_AsLongLong(args[1]);
    if (now_ns == -1 && PyErr_Occurred())
        return NULL;
    long long counter = PyLong_AsLongLong(args[2]);
    if (counter == -1 && PyErr_Occurred())
        return NULL;
    double *ema = arr_addr(&self->ema);
    int64_t *pos_v = arr_addr(&self->pos), *last = arr_addr(&self->last);
    char *out = arr_addr(&self->out);
    if (ema == NULL || pos_v == NULL || last == NULL || out == NULL)
        return NULL;
    Py_buffer b;
    if (record_in(args[0], &b, TICK_SIZE, "a TICK") < 0)
        return NULL;
    uint64_t seq = GET(uint64_t, b.buf, 0);
    int64_t ts = GET(int64_t, b.buf, 8);
    uint32_t sym = GET(uint32_t, b.buf, 16);
    double bid = GET(double, b.buf, 24), ask = GET(double, b.buf, 32);
    PyBuffer_Release(&b);
    if (sym >= self->ema.items || sym >= self->pos.items || sym >= self->last.items) {
        PyErr_Format(PyExc_IndexError, "symbol_id %u is past the strategy's %zd symbols", sym,
                     self->ema.items);
        return NULL;
    }
    double mid = (bid + ask) * 0.5, old = ema[sym];
    double dev; /* as engines._signal._deviation: NaN before the first tick, +-inf over 0 */
    if (old == 0.0)
        dev = mid != 0.0 ? copysign(INFINITY, mid) - 1.0 : NAN;
    else
        dev = mid / old - 1.0;
    ema[sym] = old != old ? mid : old + self->alpha1 * (mid - old);
    if (!(fabs(dev) >= self->threshold) || ts < last[sym] + self->cooldown_ns)
        return PyLong_FromLong(0);
    int side = -dev >= 0 ? SIDE_BUY : SIDE_SELL;
    int64_t pos = pos_v[sym];
    int64_t room = side > 0 ? self->cap - pos : self->cap + pos;
    double scale = 1.0 - (double)llabs(pos) / (double)self->cap_div;
    scale = scale < 0.1 ? 0.1 : scale;
    scale = scale > 1.0 ? 1.0 : scale;
    int64_t qty = (int64_t)((double)self->qty * scale);
    qty = qty < 1 ? 1 : qty;
    qty = qty < room ? qty : room;
    if (qty <= 0)
        return PyLong_FromLong(0);
    pos_v[sym] = pos + side * qty;
    last[sym] = ts;
    memset(out, 0, ORDER_SIZE);
    PUT(uint64_t, out, 0, (uint64_t)self->base + (uint64_t)(counter + 1));
    PUT(uint32_t, out, 8, self->sid);
    PUT(uint32_t, out, 12, sym);
    PUT(int8_t, out, 16, (int8_t)side);
    PUT(uint8_t, out, 17, TYPE_LIMIT);
    PUT(uint8_t, out, 18, TIF_IOC);
    PUT(int64_t, out, 24, qty);
    PUT(double, out, 32, side > 0 ? ask : bid);
    PUT(int64_t, out, 40, now_ns);
    PUT(uint64_t, out, 48, seq);
    PUT(int64_t, out, 56, ts);
    return PyLong_FromLongLong(qty);
}

static PyMethodDef signal_methods[] = {
    {"on_tick", (PyCFunction)(void (*)(void))signal_on_tick, METH_FASTCALL,
     "on_tick(tick, now_ns, counter) -> quantity with the order in `out`, or 0"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject SignalType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "engines._kernels.Signal",
    .tp_basicsize = sizeof(SignalObject),
    .tp_dealloc = (destructor)signal_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "MeanReversion's one-tick path (engines._signal uses it).",
    .tp_methods = signal_methods,
};

/* signal(ema, position, last_order_ns, out, alpha1, threshold, cooldown_ns, cap, qty, base,
 *        strategy_id) */
static PyObject *make_signal(PyObject *mod, PyObject *args) {
    PyObject *ema, *pos, *last, *out;
    double alpha1, threshold;
    long long cooldown, cap, qty, base;
    unsigned long sid;
    if (!PyArg_ParseTuple(args, "OOOOddLLLLk", &ema, &pos, &last, &out, &alpha1, &threshold,
                          &cooldown, &cap, &qty, &base, &sid))
        return NULL;
    SignalObject *self = PyObject_New(SignalObject, &SignalType);
    if (self == NULL)
        return NULL;
    self->ema.view = self->pos.view = self->last.view = self->out.view = NULL;
    if (arr_init(&self->ema, ema, "d", 8, 1, "ema") < 0 ||
        arr_init(&self->pos, pos, "q", 8, 1, "position") < 0 ||
        arr_init(&self->last, last, "q", 8, 1, "last_order_ns") < 0 ||
        arr_init(&self->out, out, "B", 1, ORDER_SIZE, "out") < 0) {
        Py_DECREF(self);
        return NULL;
    }
    self->alpha1 = alpha1;
    self->threshold = threshold;
    self->cooldown_ns = cooldown;
    self->cap = cap;
    self->cap_div = cap > 1 ? cap : 1;
    self->qty = qty;
    self->base = base;
    self->sid = (uint32_t)sid;
    return (PyObject *)self;
}

/* ---- risk: DecidedIds.seen + one_order_checker's check + the DECISION for one order ---- */

typedef struct {
    PyObject_HEAD
    Arr mids, pos, flags, buckets, counts, marks, out;
    int64_t n_symbols, max_strategies, max_order_qty, max_orders_per_s, max_position, max_gross;
    double band, max_notional;
    int64_t last_strat, last_counter; /* the order decide() decided, for commit() */
} CheckObject;

static void check_dealloc(CheckObject *self) {
    Py_XDECREF(self->mids.view);
    Py_XDECREF(self->pos.view);
    Py_XDECREF(self->flags.view);
    Py_XDECREF(self->buckets.view);
    Py_XDECREF(self->counts.view);
    Py_XDECREF(self->marks.view);
    Py_XDECREF(self->out.view);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static inline int64_t floor_div(int64_t a, int64_t b) {
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static int check_one(CheckObject *s, double *mids, int64_t *positions, int64_t *flags,
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
    int64_t old = positions[sym], new_pos;
    if (__builtin_add_overflow(old, side * qty, &new_pos) || llabs(new_pos) > s->max_position)
        return REASON_MAX_POSITION;
    int64_t gross = flags[0] + llabs(new_pos) - llabs(old);
    if (gross > s->max_gross)
        return REASON_MAX_GROSS;
    positions[sym] = new_pos;
    flags[0] = gross;
    return REASON_OK;
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
    int64_t *positions = arr_addr(&self->pos), *flags = arr_addr(&self->flags);
    int64_t *buckets = arr_addr(&self->buckets), *counts = arr_addr(&self->counts);
    int64_t *marks = arr_addr(&self->marks);
    char *out = arr_addr(&self->out);
    if (!mids || !positions || !flags || !buckets || !counts || !marks || !out)
        return NULL;
    Py_buffer b;
    if (record_in(args[0], &b, ORDER_SIZE, "an ORDER") < 0)
        return NULL;
    const char *rec = b.buf;
    uint64_t counter = GET(uint64_t, rec, 0) & COUNTER_MASK;
    uint32_t strat = GET(uint32_t, rec, 8), sym = GET(uint32_t, rec, 12);
    self->last_strat = -1;
    if (strat < self->marks.items && counter <= (uint64_t)marks[strat]) {
        PyBuffer_Release(&b);
        return PyLong_FromLong(-1);
    }
    if (args[1] != Py_None && sym < self->n_symbols) { /* this symbol's quote, now */
        PyObject *key = PyLong_FromUnsignedLong(sym), *quote = NULL;
        if (key != NULL) {
            quote = PyObject_CallOneArg(args[1], key);
            Py_DECREF(key);
        }
        if (quote == NULL) {
            PyBuffer_Release(&b);
            return NULL;
        }
        if (quote != Py_None) {
            Py_buffer q;
            int bad = record_in(quote, &q, TICK_SIZE, "a TICK (quote)");
            Py_DECREF(quote);
            if (bad < 0) {
                PyBuffer_Release(&b);
                return NULL;
            }
            mids[sym] = (GET(double, q.buf, 24) + GET(double, q.buf, 32)) * 0.5;
            PyBuffer_Release(&q);
        } else {
            Py_DECREF(quote);
        }
    }
    int code = check_one(self, mids, positions, flags, buckets, counts, strat, sym,
                         GET(int8_t, rec, 16), GET(int64_t, rec, 24), GET(double, rec, 32),
                         GET(int64_t, rec, 40));
    memcpy(out, rec, ORDER_SIZE);
    PyBuffer_Release(&b);
    memset(out + ORDER_SIZE, 0, DECISION_SIZE - ORDER_SIZE);
    PUT(uint8_t, out, 64, code ? VERDICT_REJECTED : VERDICT_APPROVED);
    PUT(uint16_t, out, 66, (uint16_t)code);
    PUT(int64_t, out, 72, now_ns);
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
    .tp_name = "engines._kernels.Check",
    .tp_basicsize = sizeof(CheckObject),
    .tp_dealloc = (destructor)check_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Risk's one-order path (engines.risk uses it).",
    .tp_methods = check_methods,
};

/* check(mids, position, flags, rate_bucket, rate_count, marks, out, n_symbols, max_strategies,
 *       band, max_order_qty, max_notional, max_orders_per_s, max_position, max_gross) */
static PyObject *make_check(PyObject *mod, PyObject *args) {
    PyObject *mids, *pos, *flags, *buckets, *counts, *marks, *out;
    long long n_symbols, max_strategies, max_order_qty, max_orders_per_s, max_position,
        max_gross;
    double band, max_notional;
    if (!PyArg_ParseTuple(args, "OOOOOOOLLdLdLLL", &mids, &pos, &flags, &buckets, &counts,
                          &marks, &out, &n_symbols, &max_strategies, &band, &max_order_qty,
                          &max_notional, &max_orders_per_s, &max_position, &max_gross))
        return NULL;
    CheckObject *self = PyObject_New(CheckObject, &CheckType);
    if (self == NULL)
        return NULL;
    self->mids.view = self->pos.view = self->flags.view = self->buckets.view = NULL;
    self->counts.view = self->marks.view = self->out.view = NULL;
    if (arr_init(&self->mids, mids, "d", 8, n_symbols, "mids") < 0 ||
        arr_init(&self->pos, pos, "q", 8, n_symbols, "position") < 0 ||
        arr_init(&self->flags, flags, "q", 8, 2, "flags") < 0 ||
        arr_init(&self->buckets, buckets, "q", 8, max_strategies, "rate_bucket") < 0 ||
        arr_init(&self->counts, counts, "q", 8, max_strategies, "rate_count") < 0 ||
        arr_init(&self->marks, marks, "q", 8, 0, "marks") < 0 ||
        arr_init(&self->out, out, "B", 1, DECISION_SIZE, "out") < 0) {
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
    self->last_strat = -1;
    self->last_counter = 0;
    return (PyObject *)self;
}

static PyMethodDef module_methods[] = {
    {"signal", make_signal, METH_VARARGS, "The strategy signal's one-tick kernel."},
    {"check", make_check, METH_VARARGS, "Risk's one-order kernel."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef kernels_module = {
    PyModuleDef_HEAD_INIT, "engines._kernels",
    "Compiled one-record kernels of the order path (see engines/_kernels.c).", -1,
    module_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__kernels(void) {
    if (PyType_Ready(&SignalType) < 0 || PyType_Ready(&CheckType) < 0)
        return NULL;
    return PyModule_Create(&kernels_module);
}
