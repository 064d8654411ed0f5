(deftemplate a (slot x) (slot y))
(defrule either-binds (or (a (x ?v)) (a (y ?v))) (test (neq ?v nil)) => (printout t "v=" ?v crlf))
(defrule or-fact-addr ?f <- (a (x 1)) (or (a (y 1)) (a (y 2))) => (printout t "fa " (fact-index ?f) crlf))
;;; script
(assert (a (x 1)) (a (y 2)) (a (x 3) (y 1)))
(run)
