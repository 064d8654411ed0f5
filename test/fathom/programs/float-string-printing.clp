(deftemplate rec (slot f) (slot s) (multislot m))
(defrule show (rec (f ?f) (s ?s) (m $?m)) => (printout t ?f " " ?s " " $?m " " (str-cat ?f) crlf))
;;; script
(assert (rec (f 2.0) (s "say \"hi\"") (m 1.0 2.50 3e5 0.1 -0.0)))
(assert (rec (f 1e-5) (s "back\\slash") (m "a b" c)))
(assert (rec (f 123456789012.5) (s "") (m)))
(assert (rec (f 0.000123) (s sym) (m 1.23456789012345678)))
(run)
