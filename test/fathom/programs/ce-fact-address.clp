(deftemplate job (slot id) (slot state))
(defrule start ?j <- (job (id ?i) (state new)) => (modify ?j (state running)) (printout t "start " ?i " was " (fact-index ?j) crlf))
(defrule finish ?j <- (job (id ?i) (state running)) => (retract ?j) (printout t "finish " ?i crlf))
(defrule dup ?j <- (job (id 9)) => (duplicate ?j (id 10)))
;;; script
(assert (job (id 1) (state new)) (job (id 2) (state new)))
(run)
(assert (job (id 9) (state done)))
(run)
