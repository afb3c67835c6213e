"""The packing of the WASM MatMul's implicit convolution forms (config.implicit): before the
tiles of an n-block run, the thread that owns the block writes its columns (every k row,
the block's n range) into bmat from the image, as the Im2Col step would have, so the tiles
read them warm and no separate Im2Col pass runs. Threads own whole n-blocks (matmul.py),
so no two write the same columns. `em` is the matmul emitter (its function and locals).
"""
from __future__ import annotations

from .encoder import I32
from .loops import Local, counted_loop, divmod_into


def pack_columns(em, first: int) -> None:
    """Write the columns of the n-block of unit `first` (all k rows, its n range) into bmat
    from the image, as the Im2Col step would have: the block's tiles then read them warm."""
    spec, source, f = em.spec, em.spec.im2col, em.f
    images, groups = spec.batch
    cig = source.c // groups
    sh, sw = source.strides
    dh, dw = source.dilations
    pad_top, pad_left = source.pads[0], source.pads[1]
    block, blk, batch, n0, width, image, group = (f.local(I32) for _ in range(7))
    em.op("local.get", first)
    em.op("i32.const", em.row_tiles)
    em.op("i32.div_u")
    em.op("local.set", block)
    divmod_into(f, Local(block), em.nblocks, quotient=batch, remainder=blk)
    divmod_into(f, Local(batch), groups, quotient=image, remainder=group)
    em.set_sum(n0, None, 0, [(blk, em.nb)])
    # width = blk == last ? n - last * nb : nb
    width_last = spec.n - (em.nblocks - 1) * em.nb
    em.op("i32.const", width_last)
    em.op("i32.const", em.nb)
    em.op("local.get", blk)
    em.op("i32.const", em.nblocks - 1)
    em.op("i32.eq")
    em.op("select")
    em.op("local.set", width)
    bmat, pitch = spec.bmat, spec.bmat.strides[-2]
    row, plane = f.local(I32), f.local(I32)
    em.set_sum(row, bmat.arg, 4 * bmat.offset, [(image, 4 * bmat.strides[0]), (group, 4 * bmat.strides[1]),
                                                  (n0, 4)])
    hw = source.h * source.w
    em.set_sum(plane, source.x, 0, [(image, 4 * source.c * hw), (group, 4 * cig * hw)])
    oy0, ox0 = f.local(I32), f.local(I32)
    divmod_into(f, Local(n0), source.ow, quotient=oy0, remainder=ox0)
    ki_off, kj_off = f.local(I32), f.local(I32)  # ki * dh - pad_top, kj * dw - pad_left
    with counted_loop(f, cig):
        em.op("i32.const", -pad_top)
        em.op("local.set", ki_off)
        with counted_loop(f, source.kh):
            em.op("i32.const", -pad_left)
            em.op("local.set", kj_off)
            with counted_loop(f, source.kw):
                pack_row(em, row, plane, width, oy0, ox0, ki_off, kj_off)
                em.set_sum(row, row, 4 * pitch)
                em.set_sum(kj_off, kj_off, dw)
            em.set_sum(ki_off, ki_off, dh)
        em.set_sum(plane, plane, 4 * hw)

def pack_row(em, row, plane, width, oy0, ox0, ki_off, kj_off) -> None:
    """bmat[k, n0 + j] for j < width at `row`: the image at (oy*sh + ki_off, ox*sw + kj_off),
    0 outside it, walking (oy, ox) from (oy0, ox0)."""
    source, f = em.spec.im2col, em.f
    sh, sw = source.strides
    iy, ix, ox, ptr, inside = (f.local(I32) for _ in range(5))
    em.set_sum(iy, ki_off, 0, [(oy0, sh)])
    em.set_sum(ix, kj_off, 0, [(ox0, sw)])
    em.op("local.get", ox0)
    em.op("local.set", ox)
    em.op("local.get", row)
    em.op("local.set", ptr)
    with counted_loop(f, Local(width)):
        # Unsigned compares: negative coordinates fail them too.
        em.op("local.get", iy)
        em.op("i32.const", source.h)
        em.op("i32.lt_u")
        em.op("local.get", ix)
        em.op("i32.const", source.w)
        em.op("i32.lt_u")
        em.op("i32.and")
        em.op("local.set", inside)
        em.op("local.get", ptr)
        # the element's address inside the image, else the plane's first (a safe load)
        push_sum(em, plane, [(iy, 4 * source.w), (ix, 4)])
        em.op("local.get", plane)
        em.op("local.get", inside)
        em.op("select")
        em.op("f32.load", 0)
        em.op("f32.const", 0.0)
        em.op("local.get", inside)
        em.op("select")
        em.op("f32.store", 0)
        em.set_sum(ptr, ptr, 4)
        em.set_sum(ox, ox, 1)
        em.set_sum(ix, ix, sw)
        em.op("local.get", ox)
        em.op("i32.const", source.ow)
        em.op("i32.eq")
        em.op("if")
        em.op("i32.const", 0)
        em.op("local.set", ox)
        em.op("local.get", kj_off)
        em.op("local.set", ix)
        em.set_sum(iy, iy, sh)
        em.op("end")

def push_sum(em, base: int, terms) -> None:
    """Push base + sum(local * scale) (an address) on the stack."""
    em.op("local.get", base)
    for local, scale in terms:
        em.op("local.get", local)
        em.op("i32.const", scale)
        em.op("i32.mul")
        em.op("i32.add")
