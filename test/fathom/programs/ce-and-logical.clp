(deftemplate a (slot x))
(defrule and-ce (and (a (x ?x)) (and (a (x ?y&:(> ?y ?x))))) => (printout t "and " ?x " " ?y crlf))
(defrule r-if-none (and (not (a (x 9))) (test (> 1 0))) => (printout t "none 9" crlf))
;;; script
(assert (a (x 1)) (a (x 3)) (a (x 2)))
(run)
