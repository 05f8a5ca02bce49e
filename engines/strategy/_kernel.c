/* The strategy's compiled one-tick kernel: MeanReversion.on_row + _order for one tick, from
 * the TICK's bytes to the ORDER's bytes.
 *
 * The Python path (engines/strategy/_signal.py) stays the reference and the fallback: the
 * same state (the same numpy arrays, through their memoryviews) and the same arithmetic in
 * the same order (IEEE doubles, no contraction), and a property test holds the two to the
 * same orders and state. Offsets and types come from engines/_schema.h (shm/layout.py); the
 * module exports SCHEMA (tick, order) and CONSTANTS for engines.compiled to check at load.
 */
#include <math.h>
#include <stdint.h>

#include "_kernel.h"

typedef struct {
    PyObject_HEAD
    Arr ema, pos, last, out;
    double alpha1, threshold;
    int64_t cooldown_ns, cap, cap_div, qty, base;
    uint32_t sid, ttl_ms;
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
    uint64_t seq = GETF(TICK, b.buf, SEQ);
    int64_t ts = GETF(TICK, b.buf, TS_NS);
    uint32_t sym = GETF(TICK, b.buf, SYMBOL_ID);
    double bid = GETF(TICK, b.buf, BID), ask = GETF(TICK, b.buf, ASK);
    PyBuffer_Release(&b);
    if (sym >= self->ema.items || sym >= self->pos.items || sym >= self->last.items) {
        PyErr_Format(PyExc_IndexError, "symbol_id %u is past the strategy's %zd symbols", sym,
                     self->ema.items);
        return NULL;
    }
    double mid = (bid + ask) * 0.5, old = ema[sym];
    double dev; /* as _signal._deviation: NaN before the first tick, +-inf over 0 */
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
    PUTF(ORDER, out, ORDER_ID, (uint64_t)self->base + (uint64_t)(counter + 1));
    PUTF(ORDER, out, STRATEGY_ID, self->sid);
    PUTF(ORDER, out, SYMBOL_ID, sym);
    PUTF(ORDER, out, SIDE, (int8_t)side);
    PUTF(ORDER, out, TYPE, TYPE_LIMIT);
    PUTF(ORDER, out, TIF, TIF_IOC);
    PUTF(ORDER, out, TTL_MS, self->ttl_ms);
    PUTF(ORDER, out, QTY, qty);
    PUTF(ORDER, out, PRICE, side > 0 ? ask : bid);
    PUTF(ORDER, out, TS_NS, now_ns);
    PUTF(ORDER, out, ORIGIN_SEQ, seq);
    PUTF(ORDER, out, ORIGIN_TS_NS, ts);
    return PyLong_FromLongLong(qty);
}

static PyMethodDef signal_methods[] = {
    {"on_tick", (PyCFunction)(void (*)(void))signal_on_tick, METH_FASTCALL,
     "on_tick(tick, now_ns, counter) -> quantity with the order in `out`, or 0"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject SignalType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "engines.strategy._kernel.Signal",
    .tp_basicsize = sizeof(SignalObject),
    .tp_dealloc = (destructor)signal_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "MeanReversion's one-tick path (engines.strategy._signal uses it).",
    .tp_methods = signal_methods,
};

/* signal(ema, position, last_order_ns, out, alpha1, threshold, cooldown_ns, cap, qty, base,
 *        strategy_id) */
static PyObject *make_signal(PyObject *mod, PyObject *args) {
    PyObject *ema, *pos, *last, *out;
    double alpha1, threshold;
    long long cooldown, cap, qty, base;
    unsigned long sid, ttl;
    if (!PyArg_ParseTuple(args, "OOOOddLLLLkk", &ema, &pos, &last, &out, &alpha1, &threshold,
                          &cooldown, &cap, &qty, &base, &sid, &ttl))
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
    self->ttl_ms = (uint32_t)ttl;
    return (PyObject *)self;
}

static PyMethodDef module_methods[] = {
    {"signal", make_signal, METH_VARARGS, "The strategy signal's one-tick kernel."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef kernel_module = {
    PyModuleDef_HEAD_INIT, "engines.strategy._kernel",
    "The strategy's compiled one-tick kernel (see engines/strategy/_kernel.c).", -1,
    module_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__kernel(void) {
    if (PyType_Ready(&SignalType) < 0)
        return NULL;
    PyObject *module = PyModule_Create(&kernel_module);
    PyObject *schema = PyDict_New();
    if (module == NULL || schema == NULL || SCHEMA_ADD(schema, "tick", TICK) < 0 ||
        SCHEMA_ADD(schema, "order", ORDER) < 0 || constants_add(module) < 0 ||
        PyModule_AddObject(module, "SCHEMA", schema) < 0) {
        Py_XDECREF(schema);
        Py_XDECREF(module);
        return NULL;
    }
    return module;
}
