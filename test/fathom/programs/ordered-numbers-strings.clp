(defrule nums (point ?x ?y&:(> ?y ?x)) => (printout t "above " ?x " " ?y crlf))
(defrule strs (name ?n&:(stringp ?n)) => (printout t "string " ?n crlf))
(defrule syms (name ?n&:(symbolp ?n)) => (printout t "symbol " ?n crlf))
(defrule mixed (point ?x ?x) => (printout t "diag " ?x crlf))
;;; script
(assert (point 1 2) (point 2 1) (point 1.0 1) (point 3 3) (point 2.5 2.5))
(assert (name "ann") (name ann) (name "ann"))
(run)
