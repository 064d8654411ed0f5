(deftemplate n (slot v))
(defrule inc ?f <- (n (v ?v&:(< ?v 10))) => (retract ?f) (assert (n (v (+ ?v 1)))))
(defrule stop (n (v 4)) => (printout t "halting at 4" crlf) (halt))
;;; script
(assert (n (v 0)))
(run)
(printout t "resumed" crlf)
(run 2)
(run)
