(defrule arith => 
  (printout t (+ 1 2) " " (+ 1 2.0) " " (- 10 3 2) " " (* 2 3.5) " " (/ 7 2) " " (/ 4 2) " " (div 7 2) " " (div -7 2) " " (mod 7 3) " " (mod -7 3) crlf)
  (printout t (** 2 10) " " (** 2.5 2) " " (abs -4) " " (abs -4.5) " " (min 3 1 2) " " (max 3 1.5) " " (integer 4.9) " " (integer -4.9) " " (float 3) crlf)
  (printout t (/ 1 3) " " (/ 2 3) " " (* 1.1 1.1) " " (+ 0.1 0.2) " " 1e20 " " 1.5e-7 " " 123456789.123 crlf)
  (printout t (= 1 1.0) " " (eq 1 1.0) " " (<> 1 2) " " (< 1 2 3) " " (< 1 3 2) " " (>= 3 3 1) " " (neq a b c) " " (eq a a a) crlf))
(defrule strings =>
  (printout t (str-cat "a" b 1 2.5 "c") " " (sym-cat x - 1) " " (str-length "hello") " " (str-index "ll" "hello") " " (str-index "z" "hello") crlf)
  (printout t (sub-string 2 4 "hello") "|" (sub-string 4 2 "hello") "|" (sub-string 3 99 "hello") " " (upcase "MiXed") " " (lowcase SYM) " " (upcase sym) crlf))
(defrule multifields =>
  (printout t (create$ a (create$ b c) 1) " " (nth$ 2 (create$ a b c)) " " (member$ c (create$ a b c)) " " (member$ z (create$ a)) " " (length$ (create$ 1 2 3)) crlf)
  (printout t (first$ (create$ x y z)) " " (rest$ (create$ x y z)) " " (subseq$ (create$ a b c d e) 2 4) " " (create$) " " (rest$ (create$ q)) crlf))
(defrule preds =>
  (printout t (symbolp a) (stringp "a") (numberp 1.5) (integerp 1) (floatp 1) (lexemep "x") (lexemep 1) (multifieldp (create$ a)) crlf)
  (printout t (and TRUE 1) " " (and TRUE FALSE) " " (or FALSE FALSE) " " (or FALSE x) " " (not FALSE) " " (not 0) crlf))
;;; script
(run)
