(defglobal ?*next* = 100)
(deftemplate ticket (slot id (default-dynamic (+ ?*next* 1))) (slot who))
(defrule bump (ticket (who ?w)) => (bind ?*next* (+ ?*next* 10)) (printout t ?w crlf))
;;; script
(assert (ticket (who a)))
(run)
(assert (ticket (who b)))
(run)
