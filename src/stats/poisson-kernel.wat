;; The Poisson-bootstrap hot loop in WebAssembly SIMD (see src/stats/poisson-bootstrap.ts).
;; weights: W_i = #{k : u_i >= T_k} with u_i = mix32(hashes[i] ^ key), the inverse CDF of
;; Poisson(1) written as 12 unsigned compares (the thresholds of src/stats/hash.ts), four rows per
;; instruction; returns sum_i W_i and stores W_i as f64 for the dot products.
;; dot: sum_i w_i c_i with even rows in lane 0 and odd rows in lane 1, a trailing odd row added to
;; the even sum, then even + odd: exactly the summation order of the JavaScript kernel, so both
;; give the same bits.
(module
  (memory (export "memory") 1)
  (func (export "weights") (param $h i32) (param $n i32) (param $key i32) (param $w i32) (result i32)
    (local $i i32) (local $end i32) (local $x v128) (local $c v128) (local $kk v128) (local $cnt v128)
    (local $y i32) (local $s i32) (local $total i32)
    (local.set $kk (i32x4.splat (local.get $key)))
    (local.set $end (i32.and (local.get $n) (i32.const -4)))
    (block $done
      (loop $rows
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $x (v128.xor (v128.load (i32.add (local.get $h) (i32.shl (local.get $i) (i32.const 2)))) (local.get $kk)))
        (local.set $x (v128.xor (local.get $x) (i32x4.shr_u (local.get $x) (i32.const 16))))
        (local.set $x (i32x4.mul (local.get $x) (v128.const i32x4 2146121005 2146121005 2146121005 2146121005)))
        (local.set $x (v128.xor (local.get $x) (i32x4.shr_u (local.get $x) (i32.const 15))))
        (local.set $x (i32x4.mul (local.get $x) (v128.const i32x4 461845907 461845907 461845907 461845907)))
        (local.set $x (v128.xor (local.get $x) (i32x4.shr_u (local.get $x) (i32.const 16))))
        ;; x >=u T  <=>  (x ^ 2^31) >s (T - 2^31 - 1): one signed compare per threshold
        (local.set $x (v128.xor (local.get $x) (v128.const i32x4 -2147483648 -2147483648 -2147483648 -2147483648)))
        (local.set $c (i32x4.gt_s (local.get $x) (v128.const i32x4 -567453481 -567453481 -567453481 -567453481)))
        (local.set $c (i32x4.add (local.get $c) (i32x4.gt_s (local.get $x) (v128.const i32x4 1012576688 1012576688 1012576688 1012576688))))
        (local.set $c (i32x4.add (local.get $c) (i32x4.gt_s (local.get $x) (v128.const i32x4 1802591772 1802591772 1802591772 1802591772))))
        (local.set $c (i32x4.add (local.get $c) (i32x4.gt_s (local.get $x) (v128.const i32x4 2065930134 2065930134 2065930134 2065930134))))
        (local.set $c (i32x4.add (local.get $c) (i32x4.gt_s (local.get $x) (v128.const i32x4 2131764724 2131764724 2131764724 2131764724))))
        ;; counts above 5 have probability 6e-4 per row: test the rest only when a lane needs it
        (if (v128.any_true (i32x4.gt_s (local.get $x) (v128.const i32x4 2144931642 2144931642 2144931642 2144931642)))
          (then
            (local.set $c (i32x4.add (local.get $c) (i32x4.gt_s (local.get $x) (v128.const i32x4 2144931642 2144931642 2144931642 2144931642))))
            (local.set $c (i32x4.add (local.get $c) (i32x4.gt_s (local.get $x) (v128.const i32x4 2147126128 2147126128 2147126128 2147126128))))
            (local.set $c (i32x4.add (local.get $c) (i32x4.gt_s (local.get $x) (v128.const i32x4 2147439627 2147439627 2147439627 2147439627))))
            (local.set $c (i32x4.add (local.get $c) (i32x4.gt_s (local.get $x) (v128.const i32x4 2147478814 2147478814 2147478814 2147478814))))
            (local.set $c (i32x4.add (local.get $c) (i32x4.gt_s (local.get $x) (v128.const i32x4 2147483168 2147483168 2147483168 2147483168))))
            (local.set $c (i32x4.add (local.get $c) (i32x4.gt_s (local.get $x) (v128.const i32x4 2147483603 2147483603 2147483603 2147483603))))
            (local.set $c (i32x4.add (local.get $c) (i32x4.gt_s (local.get $x) (v128.const i32x4 2147483643 2147483643 2147483643 2147483643))))))
        ;; compares give -1 per threshold passed
        (local.set $c (i32x4.neg (local.get $c)))
        (local.set $cnt (i32x4.add (local.get $cnt) (local.get $c)))
        (v128.store (i32.add (local.get $w) (i32.shl (local.get $i) (i32.const 3))) (f64x2.convert_low_i32x4_s (local.get $c)))
        (v128.store (i32.add (local.get $w) (i32.add (i32.shl (local.get $i) (i32.const 3)) (i32.const 16)))
          (f64x2.convert_low_i32x4_s (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $c) (local.get $c))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $rows)))
    (local.set $total (i32.add (i32.add (i32x4.extract_lane 0 (local.get $cnt)) (i32x4.extract_lane 1 (local.get $cnt)))
                               (i32.add (i32x4.extract_lane 2 (local.get $cnt)) (i32x4.extract_lane 3 (local.get $cnt)))))
    (block $tailDone
      (loop $tail
        (br_if $tailDone (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $y (i32.xor (i32.load (i32.add (local.get $h) (i32.shl (local.get $i) (i32.const 2)))) (local.get $key)))
        (local.set $y (i32.xor (local.get $y) (i32.shr_u (local.get $y) (i32.const 16))))
        (local.set $y (i32.mul (local.get $y) (i32.const 2146121005)))
        (local.set $y (i32.xor (local.get $y) (i32.shr_u (local.get $y) (i32.const 15))))
        (local.set $y (i32.mul (local.get $y) (i32.const 461845907)))
        (local.set $y (i32.xor (local.get $y) (i32.shr_u (local.get $y) (i32.const 16))))
        (local.set $s (i32.const 0))
          (local.set $s (i32.add (local.get $s) (i32.ge_u (local.get $y) (i32.const 1580030168))))
          (local.set $s (i32.add (local.get $s) (i32.ge_u (local.get $y) (i32.const -1134906959))))
          (local.set $s (i32.add (local.get $s) (i32.ge_u (local.get $y) (i32.const -344891875))))
          (local.set $s (i32.add (local.get $s) (i32.ge_u (local.get $y) (i32.const -81553513))))
          (local.set $s (i32.add (local.get $s) (i32.ge_u (local.get $y) (i32.const -15718923))))
          (local.set $s (i32.add (local.get $s) (i32.ge_u (local.get $y) (i32.const -2552005))))
          (local.set $s (i32.add (local.get $s) (i32.ge_u (local.get $y) (i32.const -357519))))
          (local.set $s (i32.add (local.get $s) (i32.ge_u (local.get $y) (i32.const -44020))))
          (local.set $s (i32.add (local.get $s) (i32.ge_u (local.get $y) (i32.const -4833))))
          (local.set $s (i32.add (local.get $s) (i32.ge_u (local.get $y) (i32.const -479))))
          (local.set $s (i32.add (local.get $s) (i32.ge_u (local.get $y) (i32.const -44))))
          (local.set $s (i32.add (local.get $s) (i32.ge_u (local.get $y) (i32.const -4))))
        (f64.store (i32.add (local.get $w) (i32.shl (local.get $i) (i32.const 3))) (f64.convert_i32_s (local.get $s)))
        (local.set $total (i32.add (local.get $total) (local.get $s)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $tail)))
    (local.get $total))
  (func (export "dot") (param $w i32) (param $c i32) (param $n i32) (result f64)
    (local $i i32) (local $end i32) (local $acc v128) (local $e f64) (local $last i32)
    (local.set $end (i32.and (local.get $n) (i32.const -2)))
    (block $done
      (loop $rows
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $acc (f64x2.add (local.get $acc)
          (f64x2.mul (v128.load (i32.add (local.get $w) (i32.shl (local.get $i) (i32.const 3))))
                     (v128.load (i32.add (local.get $c) (i32.shl (local.get $i) (i32.const 3)))))))
        (local.set $i (i32.add (local.get $i) (i32.const 2)))
        (br $rows)))
    (local.set $e (f64x2.extract_lane 0 (local.get $acc)))
    (if (i32.lt_u (local.get $end) (local.get $n))
      (then
        (local.set $last (i32.shl (local.get $end) (i32.const 3)))
        (local.set $e (f64.add (local.get $e)
          (f64.mul (f64.load (i32.add (local.get $w) (local.get $last))) (f64.load (i32.add (local.get $c) (local.get $last))))))))
    (f64.add (local.get $e) (f64x2.extract_lane 1 (local.get $acc))))
)
