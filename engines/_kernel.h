/* What every compiled kernel of an engine shares (engines/<engine>/_kernel.c): the views it
 * keeps of numpy arrays, the records it is given, and the schema it reports at import.
 *
 * Record layouts come from the generated engines/_schema.h (shm/layout.py); a kernel exports
 * the tables of the records it reads or writes as SCHEMA, and the layout constants as
 * CONSTANTS, and engines.compiled refuses the extension when either disagrees with
 * shm.layout (an extension built before the layout changed).
 */
#ifndef NAUTILUSD_KERNEL_H
#define NAUTILUSD_KERNEL_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#include "_schema.h"

/* A view the kernel keeps (of a numpy array or bytearray): its address, checked per call. */
typedef struct {
    PyObject *view;
    Py_ssize_t items;
} Arr;

static inline int arr_init(Arr *a, PyObject *obj, const char *fmt, Py_ssize_t itemsize,
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

static inline int record_in(PyObject *obj, Py_buffer *b, Py_ssize_t size, const char *what) {
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

/* SCHEMA[record] = (size, ((name, offset, size, type), ...)) for one record table. */
static inline int schema_add(PyObject *schema, const char *record, long size,
                             const schema_field *fields, Py_ssize_t n) {
    PyObject *rows = PyTuple_New(n);
    if (rows == NULL)
        return -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *row = Py_BuildValue("(slls)", fields[i].name, fields[i].offset,
                                      fields[i].size, fields[i].type);
        if (row == NULL) {
            Py_DECREF(rows);
            return -1;
        }
        PyTuple_SET_ITEM(rows, i, row);
    }
    PyObject *entry = Py_BuildValue("(lN)", size, rows);
    if (entry == NULL)
        return -1;
    int rc = PyDict_SetItemString(schema, record, entry);
    Py_DECREF(entry);
    return rc;
}

#define SCHEMA_ADD(schema, name, REC) \
    schema_add(schema, name, REC##_SIZE, REC##_SCHEMA, REC##_NFIELDS)

/* module.CONSTANTS = {name: value} of the layout constants compiled in. */
static inline int constants_add(PyObject *module) {
    PyObject *consts = PyDict_New();
    if (consts == NULL)
        return -1;
    for (int i = 0; i < LAYOUT_NCONSTANTS; i++) {
        PyObject *v = PyLong_FromLongLong(LAYOUT_CONSTANTS[i].value);
        if (v == NULL || PyDict_SetItemString(consts, LAYOUT_CONSTANTS[i].name, v) < 0) {
            Py_XDECREF(v);
            Py_DECREF(consts);
            return -1;
        }
        Py_DECREF(v);
    }
    if (PyModule_AddObject(module, "CONSTANTS", consts) < 0) {
        Py_DECREF(consts);
        return -1;
    }
#ifdef KERNEL_SOURCE_SHA
    /* the fingerprint of the sources it was built from (setup.py): a stale build is refused */
    return PyModule_AddStringConstant(module, "SOURCE_SHA", KERNEL_SOURCE_SHA);
#else
    return 0;
#endif
}

#endif /* NAUTILUSD_KERNEL_H */
