/*
 * Native kernels of the KPI windows (models/windows.py) and of the canary judge's hot path:
 * the places where a tick's or a batch's handful of numbers cost dozens of numpy calls each.
 *
 *   gather(...)  a batch's series -> route ids and sample arrays      (_win_gather.h)
 *   ingest(...)  a routed batch into counter state and time buckets  (_win_ingest.h)
 *   spans(...)   a (track, KPI) of one tick over several spans       (_win_spans.h)
 *   samples(...) the same read as the KpiSample tuples the judge takes  (_win_samples.h)
 *   judge_clear(...)  whether no test of the canary judge can fire   (_win_judge.h)
 *
 * All take numpy arrays through the buffer protocol (no numpy C API at build time) and
 * give results equal to the numpy reference paths, which the tests compare them with (the
 * judge screen: a clear always means the judge finds no breach).
 */
#include "_win_gather.h"
#include "_win_ingest.h"
#include "_win_spans.h"
#include "_win_samples.h"
#include "_win_judge.h"

static PyMethodDef methods[] = {
    {"gather", gather, METH_VARARGS, "A batch's series -> route ids and sample arrays."},
    {"ingest", ingest, METH_VARARGS, "A routed batch into counter state and time buckets."},
    {"spans", spans, METH_VARARGS, "A (track, KPI) of one tick over several spans."},
    {"samples", samples, METH_VARARGS, "A (track, KPI) of one tick as KpiSamples."},
    {"judge_clear", judge_clear, METH_VARARGS, "True when no canary judge test can fire."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef moddef = {PyModuleDef_HEAD_INIT, "_windows",
                                    "Native kernels of models/windows.py and the canary judge.", -1, methods};

PyMODINIT_FUNC PyInit__windows(void) {
    PyObject *m = PyModule_Create(&moddef);
    if (m && gather_init(m)) Py_CLEAR(m);
    return m;
}
