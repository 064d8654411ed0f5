(defrule numbers =>
  (printout t (round 2.5) " " (round -2.5) " " (round 0.5) " " (round -0.5) " " (round -2.6) " " (round 2.6) " " (round 3.5) crlf)
  (printout t (** 10.0 400) " " (* 1e300 1e300) " " (- 0 (* 1e300 1e300)) crlf))
(defrule strings =>
  (printout t (str-compare "abc" "abd" 2) " " (str-compare "abc" "abd" 3) " " (str-compare "abd" "abc" 5) crlf)
  (printout t (upcase "straße é abc") " " (lowcase "ÉAB") " " (upcase sym) crlf))
;;; script
(run)
