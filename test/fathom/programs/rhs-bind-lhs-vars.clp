(deftemplate p (slot x) (slot y))
(defrule rebind (p (x ?x) (y ?y)) => (bind ?x (+ ?x 100)) (printout t ?x " " ?y crlf) (bind ?z (* ?y 2)) (printout t ?z crlf))
(defrule str (p (x ?x)) => (bind ?s (str-cat "x=" ?x)) (printout t ?s " " (str-length ?s) crlf))
;;; script
(assert (p (x 1) (y 2)) (p (x 5) (y 7)))
(run)
