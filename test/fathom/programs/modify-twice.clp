(deftemplate c (slot n) (multislot m))
(defrule a ?f <- (c (n 1)) => (modify ?f (n 2) (m (create$ x y) z)) (modify ?f (n 3)) (printout t "after" crlf))
(defrule b ?f <- (c (n 5)) => (retract ?f) (bind ?g (duplicate ?f (n 6))) (printout t "dup " ?g crlf))
;;; script
(assert (c (n 1)))
(assert (c (n 5)))
(run)
